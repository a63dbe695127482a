/*
 * handlers_auth.h - POST /v1/auth/register, /login, /refresh, /logout.
 *
 * Each handler reads r (body, claims) and leaves its answer in r->reply.
 * db is the calling thread's connection, with no transaction open.
 */
#ifndef PARLEY_API_HANDLERS_AUTH_H
#define PARLEY_API_HANDLERS_AUTH_H

#include "db.h"
#include "request.h"

void handle_auth_register(api_request *r, db_conn *db);
void handle_auth_login(api_request *r, db_conn *db);
void handle_auth_refresh(api_request *r, db_conn *db);
void handle_auth_logout(api_request *r, db_conn *db);

#endif
