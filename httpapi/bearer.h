/*
 * bearer.h - authenticating a request by its bearer token: the JWT checks
 * of common/token.h, then the account behind it (it still exists, the
 * token was not revoked by a logout everywhere, the user is not banned),
 * which needs the database.
 *
 * The account check is one lookup (STMT_USER_AUTH), normally run by the
 * dispatcher before the handler.  A route whose handler answers from one
 * statement may take the check over instead (AUTH_ACCOUNT_IN_HANDLER in
 * server.c) and save that round trip: its statement then yields the same
 * columns as STMT_USER_AUTH (USER_AUTH_COL_* in db.h) for the token's
 * subject, and the handler decides on them with bearer_account_decide and,
 * when that is not BEARER_OK, answers with bearer_refuse before anything
 * else.  The rules and the answers are the same either way.
 */
#ifndef PARLEY_API_BEARER_H
#define PARLEY_API_BEARER_H

#include <stdbool.h>

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

/* Decides on the account of r->claims (after bearer_verify) from the
 * first columns of res (USER_AUTH_COL_* in db.h): the account exists when
 * res has a row with those columns not NULL; valid_after (whole seconds of
 * tokens_valid_after, 0 for never) revokes tokens issued at or before it
 * (access_token_revoked); banned is 't' while a ban lasts.  res may be
 * NULL (the statement failed: BEARER_ERROR).  Sets r->account_checked, and
 * r->authenticated on BEARER_OK; otherwise *why says what is wrong.  Pure:
 * reads res, frees nothing. */
bearer_status bearer_account_decide(api_request *r, const PGresult *res,
                                    const char **why);

/* Checks the account of r->claims (after bearer_verify) with its own
 * statement (STMT_USER_AUTH) and bearer_account_decide. */
bearer_status bearer_check_account(api_request *r, db_conn *db,
                                   const char **why);

/* Sets r's reply for an account check that did not pass, on a route that
 * requires it: 500 for BEARER_ERROR, 401 (with WWW-Authenticate) for
 * BEARER_INVALID, 403 banned for BEARER_BANNED.  Returns true when it
 * replied, false for BEARER_OK (r's reply is untouched). */
bool bearer_refuse(api_request *r, bearer_status st, const char *why);

/* For a handler that took the account check over but does not reach its
 * own statement (a bad parameter): runs bearer_check_account and answers
 * its refusal, so that a request answers 401 or 403 before 400 as on
 * every other route.  Returns true when the account stands and the
 * handler should go on to answer. */
bool bearer_account_stands(api_request *r, db_conn *db);

#endif
