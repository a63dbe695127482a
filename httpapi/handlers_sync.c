/*
 * handlers_sync.c - offline sync (see handlers_sync.h).
 */
#include "handlers_sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "objects.h"

/* Columns of STMT_SYNC. */
#define SYNC_COL_SEQ 0
#define SYNC_COL_CONV 1
#define SYNC_COL_TYPE 2
#define SYNC_COL_MESSAGE 3 /* message JSON, for message rows */
#define SYNC_COL_USER 4    /* receipt rows: user, kind, up_to, ts */
#define SYNC_COL_KIND 5
#define SYNC_COL_UP_TO 6
#define SYNC_COL_TS 7
#define SYNC_COL_PAYLOAD 8 /* conversation events: the stored payload */

int sync_query_parse(const query_param *params, size_t n, sync_query *out,
                     const char **why)
{
    uint64_t v;
    const char *s;
    bool dup;

    memset(out, 0, sizeof *out);
    out->limit = SYNC_LIMIT_DEFAULT;
    s = query_param_get(params, n, "since", &dup);
    if (s != NULL) {
        if (dup || id_parse(s, &v) != 0) {
            *why = "since must be a cursor from an earlier sync, or 0";
            return -1;
        }
        out->since = v;
    }
    s = query_param_get(params, n, "limit", &dup);
    if (s != NULL) {
        if (dup || id_parse(s, &v) != 0 || v < 1 || v > SYNC_LIMIT_MAX) {
            *why = "limit must be 1 to 500";
            return -1;
        }
        out->limit = (unsigned)v;
    }
    return 0;
}

/* One event from row i of STMT_SYNC.  Returns a new object, or NULL. */
static json_t *sync_event_new(const PGresult *res, int i)
{
    const char *type = PQgetvalue(res, i, SYNC_COL_TYPE), *key;
    json_t *ev =
        json_pack("{s:s,s:s,s:s}", "seq", PQgetvalue(res, i, SYNC_COL_SEQ),
                  "conv", PQgetvalue(res, i, SYNC_COL_CONV), "type", type);
    json_t *extra = NULL, *value;

    if (ev == NULL)
        return NULL;
    if (!PQgetisnull(res, i, SYNC_COL_MESSAGE)) {
        value = message_object_new(res, i, SYNC_COL_MESSAGE);
        if (json_object_set_new(ev, "message", value) != 0)
            goto error;
    } else if (strcmp(type, "receipt") == 0) {
        extra = json_pack(
            "{s:s,s:s,s:s,s:I}", "user", PQgetvalue(res, i, SYNC_COL_USER),
            "kind", PQgetvalue(res, i, SYNC_COL_KIND), "up_to",
            PQgetvalue(res, i, SYNC_COL_UP_TO), "ts",
            (json_int_t)strtoll(PQgetvalue(res, i, SYNC_COL_TS), NULL, 10));
    } else {
        extra = json_loads(PQgetvalue(res, i, SYNC_COL_PAYLOAD), 0, NULL);
    }
    if (extra != NULL) {
        /* jsonb sorts a stored payload's keys: put them back in the order
         * the event was sent in.  seq, conv and type are the row's own. */
        static const char *const first[] = {"user", "role"};
        for (size_t k = 0; k < sizeof first / sizeof first[0]; k++) {
            value = json_object_get(extra, first[k]);
            if (value != NULL && json_object_set(ev, first[k], value) != 0)
                goto error;
        }
        json_object_foreach(extra, key, value)
        {
            if (json_object_get(ev, key) == NULL &&
                json_object_set(ev, key, value) != 0)
                goto error;
        }
    } else if (PQgetisnull(res, i, SYNC_COL_MESSAGE)) {
        goto error;
    }
    json_decref(extra);
    return ev;
error:
    json_decref(extra);
    json_decref(ev);
    return NULL;
}

void handle_sync(api_request *r, db_conn *db)
{
    char since[PARLEY_ID_STR_MAX + 1], fetch[16];
    const char *why = NULL, *next;
    PGresult *head = NULL, *res = NULL;
    json_t *events = NULL;
    sync_query q;
    int rows, shown;

    if (sync_query_parse(r->params, r->n_params, &q, &why) != 0) {
        reply_bad_request(&r->reply, why);
        return;
    }
    snprintf(since, sizeof since, "%" PRIu64, q.since);
    /* One row more than the page tells whether there are more. */
    snprintf(fetch, sizeof fetch, "%u", q.limit + 1);
    if (db_begin_snapshot(db) != 0)
        goto fail;
    head = db_exec(db, STMT_SYNC_HEAD, NULL, 0);
    if (head == NULL || PQntuples(head) != 1)
        goto fail;
    if (q.since > strtoull(PQgetvalue(head, 0, 0), NULL, 10)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_GONE, "cursor_invalid",
                    "this cursor is not from this server: sync from 0");
        goto done;
    }
    res = DB_EXEC(db, STMT_SYNC, r->claims.sub, since, fetch);
    if (res == NULL || db_commit(db) != 0)
        goto fail;
    events = json_array();
    if (events == NULL)
        goto fail;
    rows = PQntuples(res);
    shown = rows > (int)q.limit ? (int)q.limit : rows;
    for (int i = 0; i < shown; i++) {
        if (json_array_append_new(events, sync_event_new(res, i)) != 0)
            goto fail;
    }
    next = shown > 0 ? PQgetvalue(res, shown - 1, SYNC_COL_SEQ) : since;
    reply_json_new(&r->reply, MHD_HTTP_OK,
                   json_pack("{s:o,s:s,s:b}", "events", events, "next_cursor",
                             next, "has_more", rows > (int)q.limit));
    events = NULL;
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    json_decref(events);
    PQclear(head);
    PQclear(res);
}
