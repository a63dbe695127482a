/*
 * admin_list.h - one page of an admin list (the audit trail, reports):
 * the admin check, the paging parameters, the query and the answer
 *     {"<key>":[…], "has_more"}
 * newest first, shared so that every admin list pages the same way.
 */
#ifndef PARLEY_API_ADMIN_LIST_H
#define PARLEY_API_ADMIN_LIST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "db.h"
#include "request.h"

/* Builds the JSON object of row of res.  Returns a new reference, or NULL
 * (the row is then left out of the page). */
typedef json_t *(*admin_list_row_new_fn)(const PGresult *res, int row);

/* Answers r with one page of stmt's rows, each built by row_new, in an
 * array under key.  Checks first that the caller is an admin
 * (handlers_admin.h admin_require: 403, or 500), then reads the paging
 * parameters (admin_page_parse, with the status filter when with_status:
 * 400 if bad).  stmt takes the status (NULL: any) when with_status, then
 * the id to list before (NULL: the newest) and how many rows at most; it
 * is asked for one row more than the page to tell whether there are more.
 * A database error is a 500. */
void admin_list_reply(api_request *r, db_conn *db, db_stmt stmt,
                      bool with_status, const char *key,
                      admin_list_row_new_fn row_new);

#endif
