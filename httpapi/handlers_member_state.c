/*
 * handlers_member_state.c - read pointer and mute (see
 * handlers_member_state.h).
 */
#include "handlers_member_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ids.h"

int mute_until_parse(const json_t *body, bool *forever, int64_t *until_ms,
                     const char **why)
{
    json_t *until = json_object_get(body, "until");
    json_int_t v;

    *forever = false;
    *until_ms = 0;
    if (until == NULL || json_is_null(until)) {
        *forever = true;
        return 0;
    }
    if (!json_is_integer(until) || (v = json_integer_value(until)) < 0 ||
        v > MUTE_UNTIL_MAX_MS) {
        *why = "until must be unix milliseconds, or null for ever";
        return -1;
    }
    *until_ms = (int64_t)v;
    return 0;
}

/* Returns 1 if me is a member of conv, 0 if not, -1 on error. */
static int is_member(db_conn *db, const char *conv, const char *me)
{
    PGresult *res = DB_EXEC(db, STMT_MEMBER_ROLE, conv, me);
    int rc;

    if (res == NULL)
        return -1;
    rc = PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

void handle_conv_read(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv, *me = r->claims.sub, *up_to = NULL;
    json_t *body = request_json_object(r, false);
    PGresult *res = NULL;
    long long now_ms;
    size_t len = 0;
    uint64_t id;
    int rc;

    if (body == NULL)
        return;
    if (json_field_string(body, "up_to", &up_to, &len) != 1 ||
        strlen(up_to) != len || id_parse(up_to, &id) != 0) {
        reply_bad_request(&r->reply, "up_to must be a message id");
        goto done;
    }
    if (db_begin(db) != 0)
        goto internal;
    rc = is_member(db, conv, me);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        goto done;
    }
    res = DB_EXEC(db, STMT_MSG_IN_CONV, conv, up_to);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0) {
        db_rollback(db);
        reply_bad_request(&r->reply,
                          "up_to is not a message of this conversation");
        goto done;
    }
    now_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;
    /* The event is queued first, so that the statement reserving the seq
     * is the transaction's last; a pointer that did not move rolls the
     * whole transaction back, event included. */
    if (event_notify_new(db, event_receipt(conv, me, "read", up_to, now_ms)) !=
        0)
        goto fail;
    res = DB_EXEC(db, STMT_RECEIPT_READ, conv, me, up_to);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0)
        db_rollback(db);
    else if (db_commit(db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    goto done;
fail:
    db_rollback(db);
internal:
    reply_internal(&r->reply);
done:
    PQclear(res);
    json_decref(body);
}

/* Clears the caller's mute of r's conversation, or sets it for ever or
 * until until_ms, and answers. */
static void set_mute(api_request *r, db_conn *db, bool clear, bool forever,
                     int64_t until_ms)
{
    char until[24];
    PGresult *res;

    snprintf(until, sizeof until, "%" PRId64, until_ms);
    if (clear)
        res = DB_EXEC(db, STMT_MEMBER_UNMUTE, r->route.conv, r->claims.sub);
    else
        res = DB_EXEC(db, STMT_MEMBER_MUTE, r->route.conv, r->claims.sub,
                      forever ? NULL : until);
    if (res == NULL)
        reply_internal(&r->reply);
    else if (PQntuples(res) == 0)
        reply_not_found(&r->reply);
    else
        reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    PQclear(res);
}

void handle_conv_mute(api_request *r, db_conn *db)
{
    json_t *body = request_json_object(r, true);
    const char *why = NULL;
    int64_t until_ms;
    bool forever;

    if (body == NULL)
        return;
    if (mute_until_parse(body, &forever, &until_ms, &why) != 0)
        reply_bad_request(&r->reply, why);
    else
        set_mute(r, db, false, forever, until_ms);
    json_decref(body);
}

void handle_conv_unmute(api_request *r, db_conn *db)
{
    set_mute(r, db, true, false, 0);
}
