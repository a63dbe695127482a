/*
 * handlers_users.c - the caller's own user object, other users' public
 * objects, and the health check (see handlers_users.h).
 */
#include "handlers_users.h"

#include "objects.h"

void handle_me(api_request *r, db_conn *db)
{
    PGresult *res = DB_EXEC(db, STMT_USER_BY_ID, r->claims.sub);

    if (res == NULL) {
        reply_internal(&r->reply);
        return;
    }
    if (PQntuples(res) == 0)
        /* A valid token for an account deleted since it was issued. */
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "this account no longer exists");
    else
        reply_json_new(&r->reply, MHD_HTTP_OK,
                       user_object_new(res, 0, 0, false));
    PQclear(res);
}

void handle_user_get(api_request *r, db_conn *db)
{
    PGresult *res = DB_EXEC(db, STMT_USER_PUBLIC, r->route.user);

    if (res == NULL) {
        reply_internal(&r->reply);
        return;
    }
    if (PQntuples(res) == 0)
        reply_not_found(&r->reply);
    else
        reply_json_new(&r->reply, MHD_HTTP_OK,
                       user_object_new(res, 0, 0, true));
    PQclear(res);
}

void handle_healthz(api_request *r, db_conn *db)
{
    PGresult *res = db != NULL ? db_exec(db, STMT_HEALTH, NULL, 0) : NULL;

    if (res == NULL) {
        reply_json_new(&r->reply, MHD_HTTP_SERVICE_UNAVAILABLE,
                       json_pack("{s:s}", "status", "unavailable"));
        return;
    }
    PQclear(res);
    reply_json_new(&r->reply, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}
