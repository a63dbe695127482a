/*
 * bearer.c - bearer-token authentication (see bearer.h).
 */
#include "bearer.h"

#include <stdlib.h>
#include <string.h>

#include "auth_tokens.h"

bearer_status bearer_verify(api_request *r, const char **why)
{
    const char *header = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok;
    size_t len;
    token_status st;

    if (header == NULL) {
        *why = "a bearer token is required";
        return BEARER_INVALID;
    }
    if (bearer_token_find(header, &tok, &len) != 0) {
        *why = "the Authorization header must be 'Bearer <token>'";
        return BEARER_INVALID;
    }
    st = token_verify(&r->ctx->verifier, tok, len, time(NULL), &r->claims);
    if (st != TOKEN_OK) {
        *why = token_status_str(st);
        return BEARER_INVALID;
    }
    return BEARER_OK;
}

bearer_status bearer_account_decide(api_request *r, const PGresult *res,
                                    const char **why)
{
    bearer_status st = BEARER_OK;

    r->account_checked = true;
    r->authenticated = false;
    if (res == NULL) {
        *why = "internal error";
        return BEARER_ERROR;
    }
    if (PQntuples(res) == 0 || PQnfields(res) < USER_AUTH_NCOLS ||
        PQgetisnull(res, 0, USER_AUTH_COL_VALID_AFTER) ||
        PQgetisnull(res, 0, USER_AUTH_COL_BANNED)) {
        *why = "this account no longer exists";
        st = BEARER_INVALID;
    } else if (access_token_revoked(
                   r->claims.iat,
                   strtoll(PQgetvalue(res, 0, USER_AUTH_COL_VALID_AFTER), NULL,
                           10))) {
        *why = "token revoked";
        st = BEARER_INVALID;
    } else if (PQgetvalue(res, 0, USER_AUTH_COL_BANNED)[0] == 't') {
        *why = "this account is banned";
        st = BEARER_BANNED;
    }
    r->authenticated = st == BEARER_OK;
    return st;
}

bearer_status bearer_check_account(api_request *r, db_conn *db,
                                   const char **why)
{
    PGresult *res = DB_EXEC(db, STMT_USER_AUTH, r->claims.sub);
    bearer_status st = bearer_account_decide(r, res, why);

    PQclear(res);
    return st;
}

bool bearer_refuse(api_request *r, bearer_status st, const char *why)
{
    switch (st) {
    case BEARER_OK:
        return false;
    case BEARER_INVALID:
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized", why);
        r->reply.www_authenticate = true;
        return true;
    case BEARER_BANNED:
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "banned", why);
        return true;
    case BEARER_ERROR:
    default:
        reply_internal(&r->reply);
        return true;
    }
}

bool bearer_account_stands(api_request *r, db_conn *db)
{
    const char *why = NULL;
    bearer_status st = bearer_check_account(r, db, &why);

    return !bearer_refuse(r, st, why);
}
