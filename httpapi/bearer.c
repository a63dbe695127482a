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

bearer_status bearer_check_account(api_request *r, db_conn *db,
                                   const char **why)
{
    PGresult *res = DB_EXEC(db, STMT_USER_AUTH, r->claims.sub);
    bearer_status st = BEARER_OK;

    if (res == NULL) {
        *why = "internal error";
        return BEARER_ERROR;
    }
    if (PQntuples(res) == 0) {
        *why = "this account no longer exists";
        st = BEARER_INVALID;
    } else if (access_token_revoked(r->claims.iat,
                                    strtoll(PQgetvalue(res, 0, 0), NULL, 10))) {
        *why = "token revoked";
        st = BEARER_INVALID;
    } else if (PQgetvalue(res, 0, 1)[0] == 't') {
        *why = "this account is banned";
        st = BEARER_BANNED;
    }
    PQclear(res);
    r->authenticated = st == BEARER_OK;
    return st;
}
