/*
 * handlers_messages.h - messages over HTTP: history, edits and deletes.
 *
 * GET /v1/conversations/{c}/messages: a member's view of a conversation's
 * history, paged by keyset over (conv_id, id DESC).
 *
 *   (no bound)    the newest `limit` messages
 *   before=<id>   the newest `limit` messages with id < before
 *   after=<id>    the oldest `limit` messages with id > after (the page
 *                 right after `after`, so paging forward leaves no gap)
 * Pages are always returned newest first; has_more says whether more
 * messages lie beyond the page in the direction of travel (older for
 * before and no bound, newer for after).  The reader's account is checked
 * in the page's own statement (AUTH_ACCOUNT_IN_HANDLER, bearer.h), with
 * the answers of every other route: 401 or 403 banned first, then 400 for
 * bad parameters, then 404 alike for a conversation the reader is not a
 * member of and one that does not exist.
 *
 * PATCH /v1/messages/{id} {"body"} and DELETE /v1/messages/{id}: edits and
 * deletes, decided by permissions.h (author, text, windows, roles).  Each
 * is one transaction that locks the message, announces
 * {"type":"edited"|"deleted","conv","id"} on parley_events and, as its
 * last statement, renumbers the message with a new change seq, so
 * GET /v1/sync returns its new state once.  An edit sets body and
 * edited_at and answers the message object; a delete keeps a tombstone
 * (deleted_at set, body and extra cleared) and answers 204.
 *
 *   no such message, or not a member of its conversation   404 not_found
 *   edit of a deleted or hidden message                     409 message_deleted
 *   delete of a deleted message                             204, no change
 *   someone else's message (and, for a delete, no owner or
 *   admin role)                                             403 forbidden
 *   edit of a message that is not text                      400 bad_request
 *   the author's window has passed                          403
 *                        edit_window_passed / delete_window_passed
 */
#ifndef PARLEY_API_HANDLERS_MESSAGES_H
#define PARLEY_API_HANDLERS_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "request.h"

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX 200

typedef enum history_direction {
    HISTORY_LATEST,
    HISTORY_BEFORE,
    HISTORY_AFTER,
} history_direction;

typedef struct history_query {
    history_direction direction;
    uint64_t bound; /* the before or after id */
    unsigned limit;
} history_query;

/* Reads before, after and limit from the query parameters.  Ids are
 * decimal int64 (common/ids.h id_parse); limit 1..200; before and after
 * together, an empty or repeated value are refused.  Other parameters are
 * ignored.  Returns 0, or -1 with a message in *why. */
int history_query_parse(const query_param *params, size_t n, history_query *out,
                        const char **why);

typedef enum tombstone_kind {
    TOMBSTONE_DELETED, /* deleted by its author or a conversation admin */
    TOMBSTONE_HIDDEN,  /* hidden by a moderator (handlers_admin.h) */
} tombstone_kind;

/* Inside a transaction that holds message id's row lock (id belongs to
 * conv): announces {"type":"deleted"|"hidden","conv","id"} and, as the
 * transaction's last statement before COMMIT, turns the message into a
 * tombstone (deleted: deleted_at set, body and extra cleared; hidden:
 * hidden_at set) renumbered with a new change seq.  Returns 0, or -1:
 * the caller rolls back. */
int message_tombstone(db_conn *db, const char *conv, const char *id,
                      tombstone_kind kind);

void handle_messages_list(api_request *r, db_conn *db);
void handle_message_edit(api_request *r, db_conn *db);
void handle_message_delete(api_request *r, db_conn *db);

#endif
