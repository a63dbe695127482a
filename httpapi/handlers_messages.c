/*
 * handlers_messages.c - conversation history (see handlers_messages.h).
 */
#include "handlers_messages.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "objects.h"

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

void handle_messages_list(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv, *why = NULL;
    char bound[PARLEY_ID_STR_MAX + 1], fetch[16];
    history_query q;
    PGresult *res;
    json_t *list;
    int rows, shown;

    if (history_query_parse(r->params, r->n_params, &q, &why) != 0) {
        reply_bad_request(&r->reply, why);
        return;
    }
    res = DB_EXEC(db, STMT_MEMBER_ROLE, conv, r->claims.sub);
    if (res == NULL) {
        reply_internal(&r->reply);
        return;
    }
    rows = PQntuples(res);
    PQclear(res);
    if (rows == 0) {
        reply_not_found(&r->reply);
        return;
    }
    /* One row more than the page tells whether there are more. */
    snprintf(fetch, sizeof fetch, "%u", q.limit + 1);
    snprintf(bound, sizeof bound, "%" PRIu64, q.bound);
    switch (q.direction) {
    case HISTORY_BEFORE:
        res = DB_EXEC(db, STMT_MSGS_BEFORE, conv, bound, fetch);
        break;
    case HISTORY_AFTER:
        res = DB_EXEC(db, STMT_MSGS_AFTER, conv, bound, fetch);
        break;
    case HISTORY_LATEST:
    default:
        res = DB_EXEC(db, STMT_MSGS_LATEST, conv, fetch);
        break;
    }
    if (res == NULL || (list = json_array()) == NULL) {
        PQclear(res);
        reply_internal(&r->reply);
        return;
    }
    rows = PQntuples(res);
    shown = rows > (int)q.limit ? (int)q.limit : rows;
    for (int i = 0; i < shown; i++) {
        /* AFTER reads ascending: walk the page backwards, newest first. */
        int row = q.direction == HISTORY_AFTER ? shown - 1 - i : i;
        json_array_append_new(list, message_object_new(res, row, 0));
    }
    PQclear(res);
    reply_json_new(&r->reply, MHD_HTTP_OK,
                   json_pack("{s:o,s:b}", "messages", list, "has_more",
                             rows > (int)q.limit));
}
