/*
 * bearer.h - authenticating a request by its bearer token: the JWT checks
 * of common/token.h, then the account behind it (it still exists, the
 * token was not revoked by a logout everywhere, the user is not banned),
 * which needs the database.
 */
#ifndef PARLEY_API_BEARER_H
#define PARLEY_API_BEARER_H

#include "db.h"
#include "request.h"

typedef enum bearer_status {
    BEARER_OK,
    BEARER_INVALID, /* no usable token, or the account does not stand */
    BEARER_BANNED,
    BEARER_ERROR, /* the database failed */
} bearer_status;

/* Verifies the Authorization header of r against r->ctx's verifier.  On
 * BEARER_OK fills r->claims; otherwise *why says what is wrong. */
bearer_status bearer_verify(api_request *r, const char **why);

/* Checks the account of r->claims (after bearer_verify).  On BEARER_OK
 * sets r->authenticated. */
bearer_status bearer_check_account(api_request *r, db_conn *db,
                                   const char **why);

#endif
