/*
 * handlers_sync.h - GET /v1/sync?since=<cursor>&limit=<n>: everything that
 * changed in the caller's conversations after a cursor, in one list
 * ordered by change seq (docs/ARCHITECTURE.md, "Offline sync and the
 * change sequence").
 *
 * The cursor is opaque to clients: a decimal seq, "0" or absent for the
 * beginning.  Each event is {"seq","conv","type",...}:
 *
 *   message, edited, deleted   from messages (type by edited_at, and
 *                              deleted_at/hidden_at), with "message": the
 *                              message object (a tombstone once deleted)
 *   receipt                    {"user","kind","up_to","ts"} from receipts
 *   member_added, member_removed, role_changed, conv_updated
 *                              from conv_events, with their payload
 *                              ("user", "role", ...)
 *
 * in the conversations the caller is a member of now, plus the
 * conversation events about the caller anywhere (so a removed member
 * learns of the removal).  An edit or delete renumbers its message, so a
 * message appears once, in its latest state, unless it changed between
 * two pages (then again, as "edited" or "deleted").
 *
 * The answer is {"events":[...],"next_cursor","has_more"}: next_cursor is
 * the last event's seq (the given cursor when there is none).  The page
 * is read in one REPEATABLE READ snapshot, and seqs become visible in
 * order (parley_reserve_seq's lock is held to commit), so paging with
 * next_cursor until has_more is false sees every change exactly once.
 * A cursor beyond the newest seq the server ever handed out (another
 * server, a restored database) is 410 cursor_invalid: sync from 0 again.
 */
#ifndef PARLEY_API_HANDLERS_SYNC_H
#define PARLEY_API_HANDLERS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "request.h"

#define SYNC_LIMIT_DEFAULT 100
#define SYNC_LIMIT_MAX 500

typedef struct sync_query {
    uint64_t since; /* 0: from the beginning */
    unsigned limit;
} sync_query;

/* Reads since and limit from the query parameters.  since is a decimal
 * int64 as common/ids.h id_parse reads it ("0" allowed, no sign, space or
 * leading zero); limit is 1..500 by the same digit rules.  An empty or
 * repeated value is refused; other parameters are ignored.  Returns 0, or
 * -1 with a message in *why.  Pure. */
int sync_query_parse(const query_param *params, size_t n, sync_query *out,
                     const char **why);

void handle_sync(api_request *r, db_conn *db);

#endif
