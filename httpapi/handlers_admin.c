/*
 * handlers_admin.c - bans, hidden messages, the audit trail and counts for
 * admins (see handlers_admin.h).
 */
#include "handlers_admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_list.h"
#include "events.h"
#include "handlers_messages.h"
#include "ids.h"
#include "utf8.h"
#include "uuid.h"

/* Columns of STMT_AUDIT_LIST. */
#define AUDIT_COL_ID 0
#define AUDIT_COL_ACTOR 1
#define AUDIT_COL_ACTION 2
#define AUDIT_COL_TARGET 3
#define AUDIT_COL_REASON 4
#define AUDIT_COL_DETAIL 5
#define AUDIT_COL_TIME 6

bool admin_allowed(token_role claimed, bool db_is_admin)
{
    return claimed == TOKEN_ROLE_ADMIN && db_is_admin;
}

int admin_require(api_request *r, db_conn *db)
{
    PGresult *res = DB_EXEC(db, STMT_ADMIN_ROLE, r->claims.sub);
    bool db_admin;

    if (res == NULL)
        return -1;
    db_admin = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (admin_allowed(r->claims.role, db_admin))
        return 1;
    reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "forbidden",
                "only an admin may do this");
    return 0;
}

int moderation_reason_parse(const json_t *body, const char **reason,
                            const char **why)
{
    const char *s = NULL;
    size_t len = 0, i;
    int rc = json_field_string(body, "reason", &s, &len);

    *reason = NULL;
    if (rc == 0)
        return 0;
    if (rc < 0 || len == 0 || !utf8_valid(s, len) || memchr(s, '\0', len) ||
        utf8_length(s, len) > MODERATION_REASON_MAX)
        goto bad;
    for (i = 0; i < len && strchr(" \t\r\n", s[i]) != NULL; i++)
        ;
    if (i == len)
        goto bad;
    *reason = s;
    return 0;
bad:
    *why = "reason must be 1 to 1000 characters of text";
    return -1;
}

int ban_request_parse(const json_t *body, int64_t now_ms, ban_request *out,
                      const char **why)
{
    json_t *until = json_object_get(body, "until");

    memset(out, 0, sizeof *out);
    if (moderation_reason_parse(body, &out->reason, why) != 0)
        return -1;
    if (until == NULL || json_is_null(until))
        return 0;
    if (!json_is_integer(until) || json_integer_value(until) <= now_ms ||
        json_integer_value(until) > BAN_UNTIL_MAX_MS) {
        *why = "until must be a time in the future, in unix milliseconds";
        return -1;
    }
    out->has_until = true;
    out->until_ms = json_integer_value(until);
    return 0;
}

int admin_page_parse(const query_param *params, size_t n, bool with_status,
                     admin_page *out, const char **why)
{
    static const char *const statuses[] = {"open", "resolved", "dismissed"};
    const char *v;
    uint64_t limit;
    bool dup;

    memset(out, 0, sizeof *out);
    out->limit = ADMIN_LIMIT_DEFAULT;
    v = query_param_get(params, n, "before", &dup);
    if (v != NULL) {
        if (dup || id_parse(v, &out->before) != 0) {
            *why = "before must be an id";
            return -1;
        }
        out->has_before = true;
    }
    v = query_param_get(params, n, "limit", &dup);
    if (v != NULL) {
        if (dup || id_parse(v, &limit) != 0 || limit < 1 ||
            limit > ADMIN_LIMIT_MAX) {
            *why = "limit must be 1 to 200";
            return -1;
        }
        out->limit = (unsigned)limit;
    }
    if (!with_status)
        return 0;
    v = query_param_get(params, n, "status", &dup);
    if (v == NULL)
        return 0;
    for (size_t i = 0; !dup && i < sizeof statuses / sizeof statuses[0]; i++) {
        if (strcmp(v, statuses[i]) == 0) {
            out->status = statuses[i];
            return 0;
        }
    }
    *why = "status must be open, resolved or dismissed";
    return -1;
}

int audit_record(db_conn *c, const char *actor, const char *action,
                 const char *target, const char *reason, const char *detail)
{
    return DB_EXEC_DISCARD(c, STMT_AUDIT_INSERT, actor, action, target, reason,
                           detail != NULL ? detail : "{}");
}

static int64_t now_unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int admin_begin(api_request *r, db_conn *db)
{
    int rc;

    if (db_begin(db) != 0) {
        reply_internal(&r->reply);
        return 0;
    }
    rc = admin_require(r, db);
    if (rc != 1) {
        db_rollback(db);
        if (rc < 0)
            reply_internal(&r->reply);
        return 0;
    }
    return 1;
}

/* Locks user's row.  Returns 1 (and *banned: a ban holds now), 0 when
 * there is no such user, -1 on error. */
static int lock_user(db_conn *db, const char *user, bool *banned)
{
    PGresult *res = DB_EXEC(db, STMT_USER_BAN_LOCK, user);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        *banned = PQgetvalue(res, 0, 0)[0] == 't';
        rc = 1;
    }
    PQclear(res);
    return rc;
}

json_t *admin_begin_body(api_request *r, db_conn *db, bool empty_ok)
{
    json_t *body;

    if (!admin_begin(r, db))
        return NULL;
    body = request_json_object(r, empty_ok);
    if (body == NULL)
        db_rollback(db);
    return body;
}

PGresult *admin_lock_row(api_request *r, db_conn *db, db_stmt stmt,
                         const char *id)
{
    PGresult *res = DB_EXEC(db, stmt, id);

    if (res != NULL && PQntuples(res) == 1)
        return res;
    db_rollback(db);
    if (res == NULL)
        reply_internal(&r->reply);
    else
        reply_not_found(&r->reply);
    PQclear(res);
    return NULL;
}

void handle_admin_ban(api_request *r, db_conn *db)
{
    const char *user = r->route.user, *why = NULL;
    char until[24], detail[40];
    json_t *body = NULL;
    ban_request b;
    bool banned;
    int rc;

    /* The caller's role is checked first: a non-admin learns nothing from
     * how its body would have been judged. */
    body = admin_begin_body(r, db, true);
    if (body == NULL)
        return;
    if (ban_request_parse(body, now_unix_ms(), &b, &why) != 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, why);
        goto done;
    }
    if (strcmp(user, r->claims.sub) == 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, "an admin cannot ban themself");
        goto done;
    }
    rc = lock_user(db, user, &banned);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        goto done;
    }
    snprintf(until, sizeof until, "%" PRId64, b.until_ms);
    snprintf(detail, sizeof detail, "{\"until\":%s}",
             b.has_until ? until : "null");
    if (DB_EXEC_DISCARD(db, STMT_USER_BAN, user, b.has_until ? until : NULL) !=
            0 ||
        audit_record(db, r->claims.sub, "ban", user, b.reason, detail) != 0 ||
        event_notify_new(db, event_user_banned(user)) != 0 ||
        db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    json_decref(body);
}

void handle_admin_unban(api_request *r, db_conn *db)
{
    const char *user = r->route.user;
    bool banned = false;
    int rc;

    if (!admin_begin(r, db))
        return;
    rc = lock_user(db, user, &banned);
    if (rc < 0)
        goto fail;
    if (rc == 0 || !banned) {
        db_rollback(db);
        if (rc == 0)
            reply_not_found(&r->reply);
        else
            reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
        return;
    }
    if (DB_EXEC_DISCARD(db, STMT_USER_UNBAN, user) != 0 ||
        audit_record(db, r->claims.sub, "unban", user, NULL, NULL) != 0 ||
        event_notify_new(db, event_user_unbanned(user)) != 0 ||
        db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    return;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
}

void handle_admin_hide(api_request *r, db_conn *db)
{
    const char *id = r->route.message, *reason = NULL, *why = NULL;
    char conv[UUID_STR_LEN + 1], detail[UUID_STR_LEN + 16];
    json_t *body = NULL;
    PGresult *res = NULL;
    bool gone;

    body = admin_begin_body(r, db, true);
    if (body == NULL)
        return;
    if (moderation_reason_parse(body, &reason, &why) != 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, why);
        goto done;
    }
    res = admin_lock_row(r, db, STMT_MSG_ADMIN_LOCK, id);
    if (res == NULL)
        goto done;
    snprintf(conv, sizeof conv, "%s", PQgetvalue(res, 0, 0));
    gone = PQgetvalue(res, 0, 1)[0] == 't';
    if (gone) {
        /* Already a tombstone: nothing to hide, nothing to record. */
        db_rollback(db);
        reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
        goto done;
    }
    snprintf(detail, sizeof detail, "{\"conv\":\"%s\"}", conv);
    /* The audit row before the tombstone, whose seq must come last. */
    if (audit_record(db, r->claims.sub, "hide", id, reason, detail) != 0 ||
        message_tombstone(db, conv, id, TOMBSTONE_HIDDEN) != 0 ||
        db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    PQclear(res);
    json_decref(body);
}

/* A text column as a JSON string, or null for SQL NULL. */
static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null()
                                      : json_string(PQgetvalue(res, row, col));
}

/* An audit_log row of STMT_AUDIT_LIST as an entry (admin_list_row_new_fn). */
static json_t *audit_entry_new(const PGresult *res, int row)
{
    json_t *detail =
        json_loads(PQgetvalue(res, row, AUDIT_COL_DETAIL), 0, NULL);

    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "id",
                     PQgetvalue(res, row, AUDIT_COL_ID), "actor",
                     PQgetvalue(res, row, AUDIT_COL_ACTOR), "action",
                     PQgetvalue(res, row, AUDIT_COL_ACTION), "target",
                     PQgetvalue(res, row, AUDIT_COL_TARGET), "reason",
                     text_or_null(res, row, AUDIT_COL_REASON), "detail",
                     detail != NULL ? detail : json_object(), "created_at",
                     PQgetvalue(res, row, AUDIT_COL_TIME));
}

void handle_admin_audit(api_request *r, db_conn *db)
{
    admin_list_reply(r, db, STMT_AUDIT_LIST, false, "entries", audit_entry_new);
}

void handle_admin_stats(api_request *r, db_conn *db)
{
    static const char *const names[] = {"users",         "banned_users",
                                        "conversations", "messages",
                                        "messages_24h",  "open_reports"};
    PGresult *res;
    json_t *out;
    int rc;

    rc = admin_require(r, db);
    if (rc != 1) {
        if (rc < 0)
            reply_internal(&r->reply);
        return;
    }
    res = db_exec(db, STMT_ADMIN_STATS, NULL, 0);
    if (res == NULL || PQntuples(res) != 1 || (out = json_object()) == NULL) {
        PQclear(res);
        reply_internal(&r->reply);
        return;
    }
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        json_object_set_new(
            out, names[i],
            json_integer(strtoll(PQgetvalue(res, 0, i), NULL, 10)));
    PQclear(res);
    reply_json_new(&r->reply, MHD_HTTP_OK, out);
}
