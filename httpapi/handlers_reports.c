/*
 * handlers_reports.c - reports by users and their handling by admins (see
 * handlers_reports.h).
 */
#include "handlers_reports.h"

#include <string.h>

#include "admin_list.h"
#include "handlers_admin.h"
#include "uuid.h"

/* Columns of REPORT_COLS. */
#define REPORT_COL_ID 0
#define REPORT_COL_REPORTER 1
#define REPORT_COL_MESSAGE 2
#define REPORT_COL_USER 3
#define REPORT_COL_REASON 4
#define REPORT_COL_CREATED 5
#define REPORT_COL_STATUS 6
#define REPORT_COL_CONV 7
#define REPORT_COL_SNAPSHOT 8
#define REPORT_COL_RESOLVED_BY 9
#define REPORT_COL_RESOLVED_AT 10

int report_request_parse(const json_t *body, report_request *out,
                         const char **why)
{
    const char *s = NULL;
    size_t len = 0;
    uint64_t id;
    int rc;

    memset(out, 0, sizeof *out);
    rc = json_field_string(body, "message", &s, &len);
    if (rc < 0 || (rc == 1 && (strlen(s) != len || id_parse(s, &id) != 0))) {
        *why = "message must be a message id (a string of digits)";
        return -1;
    }
    out->message = rc == 1 ? s : NULL;
    rc = json_field_string(body, "user", &s, &len);
    if (rc < 0 || (rc == 1 && (len != UUID_STR_LEN || !uuid_valid_n(s, len)))) {
        *why = "user must be a user id";
        return -1;
    }
    out->user = rc == 1 ? s : NULL;
    if (out->message == NULL && out->user == NULL) {
        *why = "a report names a message, a user or both";
        return -1;
    }
    if (moderation_reason_parse(body, &out->reason, why) != 0)
        return -1;
    if (out->reason == NULL) {
        *why = "reason is required: 1 to 1000 characters of text";
        return -1;
    }
    return 0;
}

const char *report_status_parse(const json_t *body, const char **why)
{
    const char *s = NULL;
    size_t len = 0;

    if (json_field_string(body, "status", &s, &len) == 1 && strlen(s) == len) {
        if (strcmp(s, "resolved") == 0)
            return "resolved";
        if (strcmp(s, "dismissed") == 0)
            return "dismissed";
    }
    *why = "status must be resolved or dismissed";
    return NULL;
}

/* Sets key to the text column col unless it is SQL NULL. */
static void set_text(json_t *obj, const char *key, const PGresult *res, int row,
                     int col)
{
    if (!PQgetisnull(res, row, col))
        json_object_set_new(obj, key, json_string(PQgetvalue(res, row, col)));
}

/* The report object from REPORT_COLS at column 0; with_admin_fields adds
 * what only admins see.  Returns a new reference, or NULL. */
static json_t *report_object_new(const PGresult *res, int row,
                                 bool with_admin_fields)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    set_text(o, "id", res, row, REPORT_COL_ID);
    set_text(o, "reporter", res, row, REPORT_COL_REPORTER);
    set_text(o, "message", res, row, REPORT_COL_MESSAGE);
    set_text(o, "user", res, row, REPORT_COL_USER);
    set_text(o, "reason", res, row, REPORT_COL_REASON);
    set_text(o, "created_at", res, row, REPORT_COL_CREATED);
    set_text(o, "status", res, row, REPORT_COL_STATUS);
    if (!with_admin_fields)
        return o;
    set_text(o, "conv", res, row, REPORT_COL_CONV);
    if (!PQgetisnull(res, row, REPORT_COL_SNAPSHOT))
        json_object_set_new(o, "message_object",
                            message_object_new(res, row, REPORT_COL_SNAPSHOT));
    json_object_set_new(
        o, "resolved_by",
        PQgetisnull(res, row, REPORT_COL_RESOLVED_BY)
            ? json_null()
            : json_string(PQgetvalue(res, row, REPORT_COL_RESOLVED_BY)));
    json_object_set_new(
        o, "resolved_at",
        PQgetisnull(res, row, REPORT_COL_RESOLVED_AT)
            ? json_null()
            : json_string(PQgetvalue(res, row, REPORT_COL_RESOLVED_AT)));
    return o;
}

/* A report as an admin's list shows it (admin_list_row_new_fn). */
static json_t *admin_report_new(const PGresult *res, int row)
{
    return report_object_new(res, row, true);
}

void handle_report_create(api_request *r, db_conn *db)
{
    const char *why = NULL;
    json_t *body = request_json_object(r, false);
    report_request q;
    PGresult *res;

    if (body == NULL)
        return;
    if (report_request_parse(body, &q, &why) != 0) {
        reply_bad_request(&r->reply, why);
        goto done;
    }
    res = DB_EXEC(db, STMT_REPORT_INSERT, r->claims.sub, q.message, q.user,
                  q.reason);
    if (res == NULL) {
        reply_internal(&r->reply);
        goto done;
    }
    if (PQntuples(res) != 1)
        reply_not_found(&r->reply);
    else
        reply_json_new(&r->reply, MHD_HTTP_CREATED,
                       report_object_new(res, 0, false));
    PQclear(res);
done:
    json_decref(body);
}

void handle_admin_reports(api_request *r, db_conn *db)
{
    admin_list_reply(r, db, STMT_REPORTS_LIST, true, "reports",
                     admin_report_new);
}

void handle_admin_report_update(api_request *r, db_conn *db)
{
    const char *id = r->route.report, *why = NULL, *status, *reason = NULL;
    json_t *body = NULL;
    PGresult *res = NULL;
    bool open;

    body = admin_begin_body(r, db, false);
    if (body == NULL)
        return;
    status = report_status_parse(body, &why);
    if (status == NULL || moderation_reason_parse(body, &reason, &why) != 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, why);
        goto done;
    }
    res = admin_lock_row(r, db, STMT_REPORT_LOCK, id);
    if (res == NULL)
        goto done;
    open = strcmp(PQgetvalue(res, 0, 0), "open") == 0;
    PQclear(res);
    res = NULL;
    if (!open) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_CONFLICT, "report_closed",
                    "the report was already resolved or dismissed");
        goto done;
    }
    res = DB_EXEC(db, STMT_REPORT_SET_STATUS, id, status, r->claims.sub);
    if (res == NULL || PQntuples(res) != 1 ||
        audit_record(db, r->claims.sub,
                     strcmp(status, "resolved") == 0 ? "report_resolved"
                                                     : "report_dismissed",
                     id, reason, NULL) != 0 ||
        db_commit(db) != 0)
        goto fail;
    reply_json_new(&r->reply, MHD_HTTP_OK, report_object_new(res, 0, true));
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    PQclear(res);
    json_decref(body);
}
