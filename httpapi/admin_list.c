/*
 * admin_list.c - one page of an admin list, shared by the audit trail and
 * the reports (see admin_list.h).
 */
#include "admin_list.h"

#include <inttypes.h>
#include <stdio.h>

#include "handlers_admin.h"
#include "ids.h"

void admin_list_reply(api_request *r, db_conn *db, db_stmt stmt,
                      bool with_status, const char *key,
                      admin_list_row_new_fn row_new)
{
    const char *why = NULL, *params[3];
    char before[PARLEY_ID_STR_MAX + 1], fetch[16];
    admin_page page;
    PGresult *res;
    json_t *list;
    int n = 0, rows, rc;

    rc = admin_require(r, db);
    if (rc != 1) {
        if (rc < 0)
            reply_internal(&r->reply);
        return;
    }
    if (admin_page_parse(r->params, r->n_params, with_status, &page, &why) !=
        0) {
        reply_bad_request(&r->reply, why);
        return;
    }
    snprintf(before, sizeof before, "%" PRIu64, page.before);
    /* One row more than the page tells whether there are more. */
    snprintf(fetch, sizeof fetch, "%u", page.limit + 1);
    if (with_status)
        params[n++] = page.status;
    params[n++] = page.has_before ? before : NULL;
    params[n++] = fetch;
    res = db_exec(db, stmt, params, n);
    if (res == NULL || (list = json_array()) == NULL) {
        PQclear(res);
        reply_internal(&r->reply);
        return;
    }
    rows = PQntuples(res);
    for (int i = 0; i < rows && i < (int)page.limit; i++)
        json_array_append_new(list, row_new(res, i));
    PQclear(res);
    reply_json_new(
        &r->reply, MHD_HTTP_OK,
        json_pack("{s:o,s:b}", key, list, "has_more", rows > (int)page.limit));
}
