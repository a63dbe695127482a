/*
 * handlers_users.c - the caller's own user object, other users' public
 * objects, and the health check (see handlers_users.h).
 */
#include "handlers_users.h"

#include <openssl/crypto.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "objects.h"
#include "password.h"
#include "validate.h"

/* The last column of STMT_USER_UPDATE: presence_hidden changed. */
#define UPDATE_COL_PRESENCE_CHANGED ME_NCOLS

int me_update_parse(const json_t *body, me_update *out, const char **why)
{
    const char *key;
    json_t *value;

    memset(out, 0, sizeof *out);
    out->presence_hidden = -1;
    json_object_foreach((json_t *)body, key, value)
    {
        if (strcmp(key, "display_name") == 0) {
            out->display_name = json_string_value(value);
            out->display_name_len = json_string_length(value);
            if (out->display_name == NULL ||
                !text_label_valid(out->display_name, out->display_name_len,
                                  DISPLAY_NAME_MAX)) {
                *why = "display_name must be 1 to 64 printable characters";
                return -1;
            }
        } else if (strcmp(key, "presence_hidden") == 0) {
            if (!json_is_boolean(value)) {
                *why = "presence_hidden must be true or false";
                return -1;
            }
            out->presence_hidden = json_is_true(value);
        } else if (strcmp(key, "password") == 0) {
            out->password = json_string_value(value);
            out->password_len = json_string_length(value);
            if (out->password == NULL ||
                !password_valid(out->password, out->password_len)) {
                *why = "password must be 8 to 1024 bytes";
                return -1;
            }
        } else if (strcmp(key, "current_password") == 0) {
            out->current_password = json_string_value(value);
            out->current_password_len = json_string_length(value);
            if (out->current_password == NULL) {
                *why = "current_password must be a string";
                return -1;
            }
        } else {
            *why = "unknown field: only display_name, presence_hidden, "
                   "password and current_password can change";
            return -1;
        }
    }
    if ((out->password == NULL) != (out->current_password == NULL)) {
        *why = "a new password needs current_password, and only goes with it";
        return -1;
    }
    return 0;
}

void handle_me(api_request *r, db_conn *db)
{
    PGresult *res = DB_EXEC(db, STMT_USER_ME, r->claims.sub);

    if (res == NULL) {
        reply_internal(&r->reply);
        return;
    }
    if (PQntuples(res) == 0)
        /* A valid token for an account deleted since it was issued. */
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "this account no longer exists");
    else
        reply_json_new(&r->reply, MHD_HTTP_OK, me_object_new(res, 0, 0));
    PQclear(res);
}

/* Checks current against the caller's stored hash and, when it matches,
 * writes the stored hash into old_hash and the new password's hash into
 * new_hash.  Returns 1, 0 with r->reply set (wrong password, account
 * gone), or -1 (internal error). */
static int password_change_prepare(api_request *r, db_conn *db,
                                   const me_update *u,
                                   char old_hash[PASSWORD_HASH_STR_MAX],
                                   char new_hash[PASSWORD_HASH_STR_MAX])
{
    PGresult *res = DB_EXEC(db, STMT_USER_PASSWORD_HASH, r->claims.sub);
    const char *stored;
    int ok;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                    "this account no longer exists");
        return 0;
    }
    stored = PQgetvalue(res, 0, 0);
    if (strlen(stored) >= PASSWORD_HASH_STR_MAX) {
        api_log("password change: stored password hash of user %s is "
                "unusable",
                r->claims.sub);
        PQclear(res);
        return -1;
    }
    ok = password_valid(u->current_password, u->current_password_len)
             ? password_verify(u->current_password, u->current_password_len,
                               stored)
             : 0;
    if (ok < 0)
        api_log("password change: stored password hash of user %s is "
                "unusable",
                r->claims.sub);
    if (ok == 1) {
        memcpy(old_hash, stored, strlen(stored) + 1);
        if (password_hash(u->password, u->password_len, new_hash) != 0)
            ok = -1;
    }
    PQclear(res);
    if (ok == 0)
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "wrong_password",
                    "current_password is not the account's password");
    return ok;
}

void handle_me_update(api_request *r, db_conn *db)
{
    const char *me = r->claims.sub, *why = NULL;
    char old_hash[PASSWORD_HASH_STR_MAX] = "";
    char new_hash[PASSWORD_HASH_STR_MAX] = "";
    json_t *body = request_json_object(r, false);
    PGresult *res = NULL;
    me_update u;
    bool presence_changed;

    if (body == NULL)
        return;
    if (me_update_parse(body, &u, &why) != 0) {
        reply_bad_request(&r->reply, why);
        goto done;
    }
    /* scrypt runs before the transaction: no row stays locked meanwhile.
     * The update then only applies if the hash is still the one checked. */
    if (u.password != NULL) {
        int rc = password_change_prepare(r, db, &u, old_hash, new_hash);
        if (rc < 0)
            goto internal;
        if (rc == 0)
            goto done;
    }
    if (db_begin(db) != 0)
        goto internal;
    res = DB_EXEC(db, STMT_USER_UPDATE, me, u.display_name,
                  u.presence_hidden < 0 ? NULL
                  : u.presence_hidden   ? "true"
                                        : "false",
                  u.password != NULL ? new_hash : NULL,
                  u.password != NULL ? old_hash : NULL);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0) {
        db_rollback(db);
        if (u.password != NULL)
            reply_error(&r->reply, MHD_HTTP_CONFLICT, "conflict",
                        "the password changed meanwhile; try again");
        else
            reply_error(&r->reply, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                        "this account no longer exists");
        goto done;
    }
    presence_changed =
        PQgetvalue(res, 0, UPDATE_COL_PRESENCE_CHANGED)[0] == 't';
    if (presence_changed &&
        event_notify_new(db, event_presence_changed(me)) != 0)
        goto fail;
    /* A new password ends every login: no refresh token works any more,
     * no access token issued until now either (here and at the broker,
     * which is told to look and disconnects the user's devices). */
    if (u.password != NULL &&
        (DB_EXEC_DISCARD(db, STMT_SESSIONS_REVOKE_USER, me,
                         "password_change") != 0 ||
         event_notify_new(db, event_sessions_revoked(me)) != 0))
        goto fail;
    if (db_commit(db) != 0)
        goto fail;
    reply_json_new(&r->reply, MHD_HTTP_OK, me_object_new(res, 0, 0));
    goto done;
fail:
    db_rollback(db);
internal:
    reply_internal(&r->reply);
done:
    OPENSSL_cleanse(old_hash, sizeof old_hash);
    OPENSSL_cleanse(new_hash, sizeof new_hash);
    PQclear(res);
    json_decref(body);
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
