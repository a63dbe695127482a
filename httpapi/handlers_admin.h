/*
 * handlers_admin.h - the admin endpoints: bans, hiding messages, the audit
 * trail and counts.  Reports (POST /v1/reports and the admin's list and
 * resolution) are in handlers_reports.h.
 *
 * Every call under /v1/admin/ is allowed only to an admin: the token's role
 * claim must be "admin" and so must the account's role in the database now
 * (a token minted before a demotion does not keep the power; a "user" or
 * "device" is never an admin).  Anyone else gets 403 forbidden and nothing
 * changes; without a valid token, 401 (server.c).
 *
 *   POST   /v1/admin/users/{u}/ban    {"reason"?, "until"? (unix ms)}  204
 *          sets users.banned_until (no until: no end), NOTIFY user_banned:
 *          logins, refreshes and bearer tokens are refused, the broker
 *          disconnects the user's devices and refuses new connects.  A
 *          repeated ban replaces the end.  Banning oneself is 400, an
 *          unknown user 404, an end not in the future 400.
 *   DELETE /v1/admin/users/{u}/ban    204; lifts a ban that holds, with
 *          NOTIFY user_unbanned (no ban: nothing changes); unknown 404.
 *   POST   /v1/admin/messages/{id}/hide  {"reason"?}  204
 *          sets hidden_at and renumbers the message (handlers_messages.h
 *          message_tombstone), NOTIFY hidden: subscribers of conv/{c}/event
 *          get the tombstone, history and sync show it without body.  A
 *          message already hidden or deleted is left as it is; unknown 404.
 *   GET    /v1/admin/audit?before=&limit=
 *          {"entries":[{"id","actor","action","target","reason",
 *           "detail","created_at"}], "has_more"}, newest first.
 *   GET    /v1/admin/stats
 *          {"users","banned_users","conversations","messages",
 *           "messages_24h","open_reports"}
 *
 * Each action that changes something writes its audit_log row (schema/007,
 * append-only) in the action's own transaction: ban, unban, hide,
 * report_resolved, report_dismissed.
 */
#ifndef PARLEY_API_HANDLERS_ADMIN_H
#define PARLEY_API_HANDLERS_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "request.h"
#include "token.h"

#define ADMIN_LIMIT_DEFAULT 50
#define ADMIN_LIMIT_MAX 200
#define MODERATION_REASON_MAX 1000 /* characters (code points) */
/* The latest end of a ban, 9999-12-31T23:59:59Z, in unix ms: what the
 * schema stores for a ban without end. */
#define BAN_UNTIL_MAX_MS 253402300799000LL

/* True if a caller whose token claims the role claimed and whose account's role
 * in the database is admin (db_is_admin) may use the admin endpoints. */
bool admin_allowed(token_role claimed, bool db_is_admin);

/* Inside or outside a transaction: checks that r's caller is an admin
 * (admin_allowed with the database's role).  Returns 1; 0 with r's reply
 * set to 403 forbidden; -1 on a database error (reply not set). */
int admin_require(api_request *r, db_conn *db);

/* Opens a transaction on db and checks (admin_require) that r's caller is
 * an admin.  Returns 1 with the transaction open; 0 with r's reply set
 * (403, or 500) and no transaction. */
int admin_begin(api_request *r, db_conn *db);

/* admin_begin, then r's body as a JSON object (request_json_object; an
 * empty body is {} when empty_ok).  Returns the body (a new reference)
 * with the transaction open; NULL with r's reply set and no transaction. */
json_t *admin_begin_body(api_request *r, db_conn *db, bool empty_ok);

/* Within the open transaction, runs stmt for id, which locks and returns
 * the one row it is about.  Returns that result (PQclear it); NULL with
 * the transaction rolled back and r's reply set: 404 when there is no such
 * row, 500 on a database error. */
PGresult *admin_lock_row(api_request *r, db_conn *db, db_stmt stmt,
                         const char *id);

/* Reads the optional "reason": absent or null leaves *reason NULL; else a
 * string of 1..MODERATION_REASON_MAX characters, valid UTF-8, not only
 * white space.  Returns 0, or -1 with *why set. */
int moderation_reason_parse(const json_t *body, const char **reason,
                            const char **why);

typedef struct ban_request {
    const char *reason; /* NULL: none; points into the body */
    bool has_until;
    int64_t until_ms; /* when has_until: the end, unix ms */
} ban_request;

/* Reads {"reason"?, "until"?} of a ban: until is null or an integer of
 * unix ms after now_ms and no later than BAN_UNTIL_MAX_MS.  Returns 0, or
 * -1 with *why set. */
int ban_request_parse(const json_t *body, int64_t now_ms, ban_request *out,
                      const char **why);

typedef struct admin_page {
    bool has_before;
    uint64_t before; /* an id: only rows with a smaller id */
    unsigned limit;
    const char *status; /* reports only: NULL for any, or a status name */
} admin_page;

/* Reads before (an id as common/ids.h id_parse takes it), limit (1..200,
 * default 50) and, with_status, status (open, resolved or dismissed).
 * Empty or repeated values are refused; other parameters are ignored.
 * Returns 0, or -1 with *why set. */
int admin_page_parse(const query_param *params, size_t n, bool with_status,
                     admin_page *out, const char **why);

/* Within c's open transaction, appends an audit_log row: actor (uuid),
 * action, target, reason (NULL: none), detail (JSON object text, NULL for
 * {}).  Returns 0, or -1. */
int audit_record(db_conn *c, const char *actor, const char *action,
                 const char *target, const char *reason, const char *detail);

void handle_admin_ban(api_request *r, db_conn *db);
void handle_admin_unban(api_request *r, db_conn *db);
void handle_admin_hide(api_request *r, db_conn *db);
void handle_admin_audit(api_request *r, db_conn *db);
void handle_admin_stats(api_request *r, db_conn *db);

#endif
