/*
 * handlers_users.h - GET /v1/me, GET /v1/users/{u} and GET /healthz.
 * Handlers leave their answer in r->reply.
 */
#ifndef PARLEY_API_HANDLERS_USERS_H
#define PARLEY_API_HANDLERS_USERS_H

#include "db.h"
#include "request.h"

void handle_me(api_request *r, db_conn *db);
void handle_user_get(api_request *r, db_conn *db);

/* db may be NULL (database unreachable): the answer is then 503. */
void handle_healthz(api_request *r, db_conn *db);

#endif
