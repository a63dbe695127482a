/*
 * handlers_reports.h - reports: users flag a message or a user for the
 * admins, who list them and resolve or dismiss them.
 *
 *   POST  /v1/reports {"message"?: id, "user"?: uuid, "reason"}   201
 *         any signed-in user, about a message of a conversation they are
 *         a member of and/or any existing user (at least one of the two);
 *         reason 1..1000 characters.  A message the caller cannot see
 *         answers 404 like a missing one, as does an unknown user.  The
 *         answer is the report object
 *         {"id","reporter","message"?,"user"?,"reason","created_at",
 *          "status":"open"}.
 *   GET   /v1/admin/reports?status=&before=&limit=     (admins only)
 *         {"reports":[…],"has_more"}, newest first; each report also has
 *         "conv" and "message_object" (the message as the reporter saw it
 *         when reporting) for a message, and "resolved_by"/"resolved_at".
 *   PATCH /v1/admin/reports/{id} {"status":"resolved"|"dismissed",
 *         "reason"?}                                       (admins only)
 *         closes an open report (audit action report_resolved or
 *         report_dismissed) and answers it; a closed one is 409
 *         report_closed, an unknown one 404.
 */
#ifndef PARLEY_API_HANDLERS_REPORTS_H
#define PARLEY_API_HANDLERS_REPORTS_H

#include <jansson.h>

#include "db.h"
#include "ids.h"
#include "objects.h"
#include "request.h"

/* clang-format off */
/* A report over alias a: id, reporter, message id, user, reason,
 * created_at, status, conv, snapshot (message JSON text), resolved_by,
 * resolved_at. */
#define REPORT_COLS(a)                                                         \
    a ".id::text, " a ".reporter_id::text, " a ".message_id::text, "          \
    a ".user_id::text, " a ".reason, " SQL_TIME(a ".created_at") ", "         \
    a ".status, " a ".conv_id::text, " a ".snapshot::text, "                  \
    a ".resolved_by::text, " SQL_TIME(a ".resolved_at")
/* clang-format on */

typedef struct report_request {
    const char *message; /* a message id, or NULL; points into the body */
    const char *user;    /* a canonical uuid, or NULL; points into the body */
    const char *reason;  /* points into the body */
} report_request;

/* Reads {"message"?, "user"?, "reason"}: message a string id (common/ids.h
 * id_parse), user a canonical lower-case uuid, at least one of them, and
 * a reason as handlers_admin.h moderation_reason_parse takes it but
 * required.  Returns 0, or -1 with *why set. */
int report_request_parse(const json_t *body, report_request *out,
                         const char **why);

/* Reads {"status"} of a resolution: "resolved" or "dismissed".  Returns
 * the status (a static string), or NULL with *why set. */
const char *report_status_parse(const json_t *body, const char **why);

void handle_report_create(api_request *r, db_conn *db);
void handle_admin_reports(api_request *r, db_conn *db);
void handle_admin_report_update(api_request *r, db_conn *db);

#endif
