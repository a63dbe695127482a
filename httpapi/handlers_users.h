/*
 * handlers_users.h - GET|PATCH /v1/me, GET /v1/users/{u} and GET /healthz.
 * Handlers leave their answer in r->reply.
 *
 * PATCH /v1/me changes any of:
 *   display_name      1..64 characters (validate.h text_label_valid)
 *   presence_hidden   true or false; a change is announced as
 *                     {"type":"presence_changed","user"} so the broker
 *                     stops (or resumes) publishing the user's presence
 *   password          with current_password, which must be right (403
 *                     wrong_password otherwise); sets the new hash, revokes
 *                     every access token issued so far (tokens_valid_after)
 *                     and every login session, and announces
 *                     {"type":"sessions_revoked","user"} so the broker
 *                     disconnects every device of the user
 * Any other field, a null, or a value of the wrong type is 400; {} changes
 * nothing.  The answer is the caller's user object as GET /v1/me gives it.
 */
#ifndef PARLEY_API_HANDLERS_USERS_H
#define PARLEY_API_HANDLERS_USERS_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"
#include "request.h"

/* A PATCH /v1/me body, validated.  Strings point into the parsed body. */
typedef struct me_update {
    const char *display_name; /* NULL: keep */
    size_t display_name_len;
    int presence_hidden;  /* -1: keep; 0 or 1 */
    const char *password; /* the new password; NULL: keep */
    size_t password_len;
    const char *current_password; /* set exactly when password is */
    size_t current_password_len;
} me_update;

/* Validates a PATCH /v1/me body.  Returns 0 and fills out, or -1 with a
 * message for a 400 in *why.  Pure. */
int me_update_parse(const json_t *body, me_update *out, const char **why);

void handle_me(api_request *r, db_conn *db);
void handle_me_update(api_request *r, db_conn *db);
void handle_user_get(api_request *r, db_conn *db);

/* db may be NULL (database unreachable): the answer is then 503. */
void handle_healthz(api_request *r, db_conn *db);

#endif
