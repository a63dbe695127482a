/*
 * handlers_auth.c - accounts and tokens: register, login, refresh (with
 * rotation and reuse detection), logout (see handlers_auth.h).  Login
 * and register go through the login throttle (login_throttle.h) first.
 */
#include "handlers_auth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_tokens.h"
#include "events.h"
#include "log.h"
#include "objects.h"
#include "password.h"
#include "uuid.h"
#include "validate.h"

#define BAD_LOGIN "wrong username or password"

/* Columns of STMT_USER_LOGIN after USER_COLS. */
#define LOGIN_COL_HASH USER_NCOLS
#define LOGIN_COL_BANNED (USER_NCOLS + 1)
#define LOGIN_COL_VALID_AFTER (USER_NCOLS + 2)
/* Columns of STMT_REFRESH_LOCK. */
#define RT_COL_SESSION 0
#define RT_COL_ROTATED 1
#define RT_COL_EXPIRED 2
#define RT_COL_REVOKED 3
#define RT_COL_BANNED 4
#define RT_COL_VALID_AFTER 5
#define RT_COL_USER 6

/* Answers 429 with Retry-After for a throttle's wait of ms. */
static void reply_rate_limited(api_request *r, int64_t ms, const char *what)
{
    reply_error(&r->reply, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited", what);
    r->reply.retry_after = throttle_retry_after(ms);
}

static bool pg_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

void handle_auth_register(api_request *r, db_conn *db)
{
    const char *username = NULL, *password = NULL, *display = NULL;
    size_t ulen = 0, plen = 0, dlen = 0;
    char hash[PASSWORD_HASH_STR_MAX], id[UUID_STR_LEN + 1];
    char addr[THROTTLE_ADDR_MAX];
    json_t *body;
    PGresult *res;
    int64_t wait;

    request_client_address(r, addr);
    wait = register_throttle_take(&r->ctx->throttle, &r->ctx->limits, addr,
                                  request_clock_ms());
    if (wait > 0) {
        reply_rate_limited(r, wait, "too many registrations from this address");
        return;
    }
    body = request_json_object(r, false);
    if (body == NULL)
        return;
    if (json_field_string(body, "username", &username, &ulen) != 1 ||
        !username_valid(username, ulen)) {
        reply_bad_request(&r->reply,
                          "username must match [A-Za-z0-9_.-]{3,32}");
        goto done;
    }
    if (json_field_string(body, "password", &password, &plen) != 1 ||
        !password_valid(password, plen)) {
        reply_bad_request(&r->reply, "password must be 8 to 1024 bytes");
        goto done;
    }
    switch (json_field_string(body, "display_name", &display, &dlen)) {
    case 0:
        display = username;
        break;
    case 1:
        if (text_label_valid(display, dlen, DISPLAY_NAME_MAX))
            break;
        /* fall through */
    default:
        reply_bad_request(&r->reply,
                          "display_name must be 1 to 64 printable characters");
        goto done;
    }
    if (password_hash(password, plen, hash) != 0 || uuid_generate(id) != 0) {
        reply_internal(&r->reply);
        goto done;
    }
    res = DB_EXEC(db, STMT_USER_INSERT, id, username, display, "user", hash);
    OPENSSL_cleanse(hash, sizeof hash);
    if (res == NULL) {
        if (db_failed_with(db, "23505"))
            reply_error(&r->reply, MHD_HTTP_CONFLICT, "conflict",
                        "username is taken");
        else
            reply_internal(&r->reply);
        goto done;
    }
    reply_json_new(&r->reply, MHD_HTTP_CREATED,
                   user_object_new(res, 0, 0, false));
    PQclear(res);
done:
    json_decref(body);
}

/* Answers a login or refresh: a new access token for the user in row 0 of
 * res at column user_col, whose tokens_valid_after (seconds) is in column
 * valid_after_col, and the given refresh token. */
static void reply_tokens(api_request *r, const PGresult *res, int user_col,
                         int valid_after_col, const char *refresh)
{
    const api_config *cfg = &r->ctx->cfg;
    time_t now = time(NULL);
    access_token_claims claims = {
        .issuer = cfg->issuer,
        .audience = cfg->audience,
        .sub = PQgetvalue(res, 0, user_col),
        .role = PQgetvalue(res, 0, user_col + 3),
        .now = now,
        .ttl = cfg->access_ttl,
        .iat = access_token_iat(
            now, strtoll(PQgetvalue(res, 0, valid_after_col), NULL, 10)),
    };
    char *access =
        access_token_issue(&claims, r->ctx->jwt_secret, r->ctx->jwt_secret_len);
    json_t *user = user_object_new(res, 0, user_col, false);

    if (access == NULL || user == NULL) {
        free(access);
        json_decref(user);
        reply_internal(&r->reply);
        return;
    }
    reply_json_new(&r->reply, MHD_HTTP_OK,
                   json_pack("{s:s,s:s,s:I,s:s,s:o}", "access_token", access,
                             "refresh_token", refresh, "expires_in",
                             (json_int_t)cfg->access_ttl, "token_type",
                             "Bearer", "user", user));
    OPENSSL_cleanse(access, strlen(access));
    free(access);
}

/* Stores a new refresh token for session (inside the caller's
 * transaction) and writes it into token.  Returns 0, or -1. */
static int store_refresh_token(api_request *r, db_conn *db, const char *session,
                               char token[REFRESH_TOKEN_LEN + 1])
{
    char hash[REFRESH_HASH_TEXT_LEN + 1], ttl[24];
    PGresult *res;

    if (refresh_token_new(token) != 0)
        return -1;
    refresh_token_hash_text(token, REFRESH_TOKEN_LEN, hash);
    snprintf(ttl, sizeof ttl, "%ld", r->ctx->cfg.refresh_ttl);
    res = DB_EXEC(db, STMT_REFRESH_INSERT, hash, session, ttl);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

void handle_auth_login(api_request *r, db_conn *db)
{
    const char *username = NULL, *password = NULL, *device = "default";
    size_t ulen = 0, plen = 0, dlen = strlen("default");
    char session[UUID_STR_LEN + 1], refresh[REFRESH_TOKEN_LEN + 1];
    char addr[THROTTLE_ADDR_MAX];
    json_t *body = request_json_object(r, false);
    PGresult *res = NULL, *ins;
    int64_t wait;
    int ok;

    if (body == NULL)
        return;
    if (json_field_string(body, "username", &username, &ulen) != 1 ||
        json_field_string(body, "password", &password, &plen) != 1) {
        reply_bad_request(&r->reply, "username and password are required");
        goto done;
    }
    if (json_field_string(body, "device", &device, &dlen) < 0 ||
        !device_valid(device, dlen)) {
        reply_bad_request(&r->reply, "device must match [A-Za-z0-9_-]{1,64}");
        goto done;
    }
    /* Charged as a failure before the password is looked at; a spent
     * budget refuses even the right password. */
    request_client_address(r, addr);
    wait = login_throttle_begin(&r->ctx->throttle, &r->ctx->limits, addr,
                                username, request_clock_ms());
    if (wait > 0) {
        reply_rate_limited(r, wait, "too many failed logins; try later");
        goto done;
    }
    if (!username_valid(username, ulen) || !password_valid(password, plen)) {
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    BAD_LOGIN);
        goto done;
    }
    res = DB_EXEC(db, STMT_USER_LOGIN, username);
    if (res == NULL) {
        login_throttle_cancel(&r->ctx->throttle, &r->ctx->limits, addr,
                              username);
        reply_internal(&r->reply);
        goto done;
    }
    if (PQntuples(res) == 0) {
        password_verify_dummy(password, plen);
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    BAD_LOGIN);
        goto done;
    }
    ok = password_verify(password, plen, PQgetvalue(res, 0, LOGIN_COL_HASH));
    if (ok != 1) {
        if (ok < 0)
            api_log("login: stored password hash of user %s is unusable",
                    PQgetvalue(res, 0, 0));
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    BAD_LOGIN);
        goto done;
    }
    login_throttle_succeeded(&r->ctx->throttle, &r->ctx->limits, addr,
                             username);
    if (pg_bool(res, 0, LOGIN_COL_BANNED)) {
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "banned",
                    "this account is banned");
        goto done;
    }
    if (uuid_generate(session) != 0 || db_begin(db) != 0) {
        reply_internal(&r->reply);
        goto done;
    }
    ins = DB_EXEC(db, STMT_SESSION_INSERT, session, PQgetvalue(res, 0, 0),
                  device);
    if (ins == NULL || store_refresh_token(r, db, session, refresh) != 0 ||
        db_commit(db) != 0) {
        PQclear(ins);
        db_rollback(db);
        reply_internal(&r->reply);
        goto done;
    }
    PQclear(ins);
    reply_tokens(r, res, 0, LOGIN_COL_VALID_AFTER, refresh);
    OPENSSL_cleanse(refresh, sizeof refresh);
done:
    PQclear(res);
    json_decref(body);
}

void handle_auth_refresh(api_request *r, db_conn *db)
{
    const char *token = NULL;
    size_t tlen = 0;
    char hash[REFRESH_HASH_TEXT_LEN + 1], refresh[REFRESH_TOKEN_LEN + 1];
    json_t *body = request_json_object(r, false);
    PGresult *res = NULL;
    const char *session;

    if (body == NULL)
        return;
    if (json_field_string(body, "refresh_token", &token, &tlen) != 1) {
        reply_bad_request(&r->reply, "refresh_token is required");
        goto done;
    }
    if (!refresh_token_well_formed(token, tlen)) {
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "invalid refresh token");
        goto done;
    }
    refresh_token_hash_text(token, tlen, hash);
    if (db_begin(db) != 0) {
        reply_internal(&r->reply);
        goto done;
    }
    res = DB_EXEC(db, STMT_REFRESH_LOCK, hash);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0 || pg_bool(res, 0, RT_COL_REVOKED) ||
        pg_bool(res, 0, RT_COL_EXPIRED)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "invalid refresh token");
        goto done;
    }
    session = PQgetvalue(res, 0, RT_COL_SESSION);
    if (pg_bool(res, 0, RT_COL_ROTATED)) {
        /* A token used twice was stolen from one of its holders: end the
         * whole login session, for both. */
        if (DB_EXEC_DISCARD(db, STMT_SESSION_REVOKE, session,
                            "refresh_token_reuse") != 0 ||
            db_commit(db) != 0)
            goto fail;
        api_log("refresh token reuse: revoked a login session of user %s",
                PQgetvalue(res, 0, RT_COL_USER));
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "invalid refresh token");
        goto done;
    }
    if (pg_bool(res, 0, RT_COL_BANNED)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "banned",
                    "this account is banned");
        goto done;
    }
    if (DB_EXEC_DISCARD(db, STMT_REFRESH_ROTATE, hash) != 0 ||
        DB_EXEC_DISCARD(db, STMT_SESSION_TOUCH, session) != 0 ||
        store_refresh_token(r, db, session, refresh) != 0 || db_commit(db) != 0)
        goto fail;
    reply_tokens(r, res, RT_COL_USER, RT_COL_VALID_AFTER, refresh);
    OPENSSL_cleanse(refresh, sizeof refresh);
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    PQclear(res);
    json_decref(body);
}

void handle_auth_logout(api_request *r, db_conn *db)
{
    const char *token = NULL;
    size_t tlen = 0;
    json_t *body = request_json_object(r, true), *everywhere_j;
    bool everywhere = false;
    int has_token;

    if (body == NULL)
        return;
    has_token = json_field_string(body, "refresh_token", &token, &tlen);
    everywhere_j = json_object_get(body, "everywhere");
    if (has_token < 0 ||
        (everywhere_j != NULL && !json_is_boolean(everywhere_j))) {
        reply_bad_request(&r->reply, "refresh_token must be a string and "
                                     "everywhere a boolean");
        goto done;
    }
    everywhere = json_is_true(everywhere_j);
    if (!everywhere && has_token != 1) {
        reply_bad_request(&r->reply,
                          "give refresh_token, or everywhere:true with a "
                          "bearer token");
        goto done;
    }
    if (everywhere && !r->authenticated) {
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "logging out everywhere needs a valid bearer token");
        r->reply.www_authenticate = true;
        goto done;
    }
    if (db_begin(db) != 0)
        goto fail;
    if (has_token == 1 && refresh_token_well_formed(token, tlen)) {
        char hash[REFRESH_HASH_TEXT_LEN + 1];
        refresh_token_hash_text(token, tlen, hash);
        if (DB_EXEC_DISCARD(db, STMT_SESSION_REVOKE_BY_TOKEN, hash) != 0)
            goto fail;
    }
    /* Everywhere: no refresh token works any more, no access token issued
     * until now either (here and at the broker, which is told to look). */
    if (everywhere &&
        (DB_EXEC_DISCARD(db, STMT_SESSIONS_REVOKE_USER, r->claims.sub,
                         "logout_everywhere") != 0 ||
         DB_EXEC_DISCARD(db, STMT_USER_REVOKE_TOKENS, r->claims.sub) != 0 ||
         event_notify_new(db, event_sessions_revoked(r->claims.sub)) != 0))
        goto fail;
    if (db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    json_decref(body);
}
