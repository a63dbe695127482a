/*
 * handlers_messages.c - conversation history, edits and deletes (see
 * handlers_messages.h).
 */
#include "handlers_messages.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bearer.h"
#include "events.h"
#include "ids.h"
#include "objects.h"
#include "permissions.h"
#include "uuid.h"
#include "validate.h"

/* Columns of STMT_MSG_LOCK. */
#define LOCK_COL_CONV 0
#define LOCK_COL_AUTHOR 1
#define LOCK_COL_TEXT 2
#define LOCK_COL_DELETED 3
#define LOCK_COL_HIDDEN 4
#define LOCK_COL_ROLE 5
#define LOCK_COL_AGE 6

/* Reads one id parameter.  Returns 1 when present and valid, 0 when
 * absent, -1 when invalid or repeated. */
static int id_param(const query_param *params, size_t n, const char *key,
                    uint64_t *out)
{
    bool dup;
    const char *v = query_param_get(params, n, key, &dup);

    if (v == NULL)
        return 0;
    if (dup || id_parse(v, out) != 0)
        return -1;
    return 1;
}

int history_query_parse(const query_param *params, size_t n, history_query *out,
                        const char **why)
{
    uint64_t before = 0, after = 0, limit = 0;
    int has_before, has_after;
    const char *v;
    bool dup;

    memset(out, 0, sizeof *out);
    out->limit = HISTORY_LIMIT_DEFAULT;
    has_before = id_param(params, n, "before", &before);
    has_after = id_param(params, n, "after", &after);
    if (has_before < 0 || has_after < 0) {
        *why = "before and after must be message ids";
        return -1;
    }
    if (has_before && has_after) {
        *why = "give before or after, not both";
        return -1;
    }
    v = query_param_get(params, n, "limit", &dup);
    if (v != NULL) {
        /* Same digit rules as ids, then the range. */
        if (dup || id_parse(v, &limit) != 0 || limit < 1 ||
            limit > HISTORY_LIMIT_MAX) {
            *why = "limit must be 1 to 200";
            return -1;
        }
        out->limit = (unsigned)limit;
    }
    if (has_before) {
        out->direction = HISTORY_BEFORE;
        out->bound = before;
    } else if (has_after) {
        out->direction = HISTORY_AFTER;
        out->bound = after;
    }
    return 0;
}

/* The reply is built whole by PostgreSQL (STMT_HISTORY_* in db.c) and
 * sent as the text it comes in: parsing and printing every message again
 * here cost most of the server's time per page.  The route takes the
 * account check over (AUTH_ACCOUNT_IN_HANDLER, bearer.h): the same
 * statement checks the account, so a page costs one round trip. */
void handle_messages_list(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv, *why = NULL;
    char bound[PARLEY_ID_STR_MAX + 1], limit[16];
    history_query q;
    bearer_status st;
    PGresult *res;

    if (history_query_parse(r->params, r->n_params, &q, &why) != 0) {
        if (bearer_account_stands(r, db))
            reply_bad_request(&r->reply, why);
        return;
    }
    snprintf(limit, sizeof limit, "%u", q.limit);
    snprintf(bound, sizeof bound, "%" PRIu64, q.bound);
    switch (q.direction) {
    case HISTORY_BEFORE:
        res =
            DB_EXEC(db, STMT_HISTORY_BEFORE, conv, r->claims.sub, limit, bound);
        break;
    case HISTORY_AFTER:
        res =
            DB_EXEC(db, STMT_HISTORY_AFTER, conv, r->claims.sub, limit, bound);
        break;
    case HISTORY_LATEST:
    default:
        res = DB_EXEC(db, STMT_HISTORY_LATEST, conv, r->claims.sub, limit);
        break;
    }
    st = bearer_account_decide(r, res, &why);
    if (bearer_refuse(r, st, why)) {
        PQclear(res);
        return;
    }
    /* No page: not a member, or no such conversation; the same answer. */
    if (PQgetisnull(res, 0, HISTORY_COL_PAGE))
        reply_not_found(&r->reply);
    else
        reply_json_text(&r->reply, MHD_HTTP_OK,
                        PQgetvalue(res, 0, HISTORY_COL_PAGE),
                        (size_t)PQgetlength(res, 0, HISTORY_COL_PAGE));
    PQclear(res);
}

/* Inside a transaction: locks message id for member me and reads what
 * permissions.h decides on, and the message's conversation into conv.
 * Returns 1, 0 when there is no such message or me is not a member of its
 * conversation, -1 on error. */
static int lock_message(db_conn *db, const char *id, const char *me,
                        message_facts *f, char conv[UUID_STR_LEN + 1])
{
    PGresult *res = DB_EXEC(db, STMT_MSG_LOCK, id, me);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        memset(f, 0, sizeof *f);
        f->is_author = PQgetvalue(res, 0, LOCK_COL_AUTHOR)[0] == 't';
        f->is_text = PQgetvalue(res, 0, LOCK_COL_TEXT)[0] == 't';
        f->deleted = PQgetvalue(res, 0, LOCK_COL_DELETED)[0] == 't';
        f->hidden = PQgetvalue(res, 0, LOCK_COL_HIDDEN)[0] == 't';
        f->age_ms = strtoll(PQgetvalue(res, 0, LOCK_COL_AGE), NULL, 10);
        snprintf(conv, UUID_STR_LEN + 1, "%s",
                 PQgetvalue(res, 0, LOCK_COL_CONV));
        rc = member_role_parse(PQgetvalue(res, 0, LOCK_COL_ROLE), &f->role) == 0
                 ? 1
                 : -1;
    }
    PQclear(res);
    return rc;
}

/* Sets r's reply for a verdict other than MESSAGE_ALLOWED. */
static void reply_refused(api_request *r, message_verdict v, bool edit)
{
    switch (v) {
    case MESSAGE_GONE:
        if (edit)
            reply_error(&r->reply, MHD_HTTP_CONFLICT, "message_deleted",
                        "the message was deleted");
        else
            reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
        break;
    case MESSAGE_NOT_AUTHOR:
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "forbidden",
                    edit ? "only the author may edit a message"
                         : "only the author, or an owner or admin of the "
                           "conversation, may delete a message");
        break;
    case MESSAGE_NOT_TEXT:
        reply_bad_request(&r->reply, "only text messages can be edited");
        break;
    case MESSAGE_WINDOW_PASSED:
        if (edit)
            reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "edit_window_passed",
                        "the time to edit this message has passed");
        else
            reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "delete_window_passed",
                        "the time to delete this message has passed");
        break;
    case MESSAGE_ALLOWED:
    default:
        reply_internal(&r->reply);
        break;
    }
}

void handle_message_edit(api_request *r, db_conn *db)
{
    const char *id = r->route.message, *text = NULL;
    char conv[UUID_STR_LEN + 1];
    json_t *body = request_json_object(r, false);
    PGresult *res = NULL;
    message_verdict v;
    message_facts f;
    size_t len = 0;
    int rc;

    if (body == NULL)
        return;
    if (json_field_string(body, "body", &text, &len) != 1 ||
        !message_body_valid(text, len)) {
        reply_bad_request(&r->reply, "body must be 1 to 4000 characters");
        goto done;
    }
    if (db_begin(db) != 0)
        goto internal;
    rc = lock_message(db, id, r->claims.sub, &f, conv);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        goto done;
    }
    v = message_may_edit(&f, r->ctx->cfg.edit_window);
    if (v != MESSAGE_ALLOWED) {
        db_rollback(db);
        reply_refused(r, v, true);
        goto done;
    }
    /* The event first: the statement that reserves the seq comes last. */
    if (event_notify_new(db, event_message_edited(conv, id)) != 0)
        goto fail;
    res = DB_EXEC(db, STMT_MSG_EDIT, id, text);
    if (res == NULL || PQntuples(res) != 1 || db_commit(db) != 0)
        goto fail;
    reply_json_new(&r->reply, MHD_HTTP_OK, message_object_new(res, 0, 0));
    goto done;
fail:
    db_rollback(db);
internal:
    reply_internal(&r->reply);
done:
    PQclear(res);
    json_decref(body);
}

int message_tombstone(db_conn *db, const char *conv, const char *id,
                      tombstone_kind kind)
{
    char *event = kind == TOMBSTONE_HIDDEN ? event_message_hidden(conv, id)
                                           : event_message_deleted(conv, id);

    /* The event first: the statement that reserves the seq comes last. */
    if (event_notify_new(db, event) != 0)
        return -1;
    return DB_EXEC_DISCARD(
        db, kind == TOMBSTONE_HIDDEN ? STMT_MSG_HIDE : STMT_MSG_DELETE, id);
}

void handle_message_delete(api_request *r, db_conn *db)
{
    const char *id = r->route.message;
    char conv[UUID_STR_LEN + 1];
    message_verdict v;
    message_facts f;
    int rc;

    if (db_begin(db) != 0)
        goto internal;
    rc = lock_message(db, id, r->claims.sub, &f, conv);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        return;
    }
    v = message_may_delete(&f, r->ctx->cfg.delete_window);
    if (v != MESSAGE_ALLOWED) {
        db_rollback(db);
        reply_refused(r, v, false);
        return;
    }
    if (message_tombstone(db, conv, id, TOMBSTONE_DELETED) != 0 ||
        db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    return;
fail:
    db_rollback(db);
internal:
    reply_internal(&r->reply);
}
