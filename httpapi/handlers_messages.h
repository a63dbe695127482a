/*
 * handlers_messages.h - GET /v1/conversations/{c}/messages: a member's view
 * of a conversation's history, paged by keyset over (conv_id, id DESC).
 *
 *   (no bound)    the newest `limit` messages
 *   before=<id>   the newest `limit` messages with id < before
 *   after=<id>    the oldest `limit` messages with id > after (the page
 *                 right after `after`, so paging forward leaves no gap)
 * Pages are always returned newest first; has_more says whether more
 * messages lie beyond the page in the direction of travel (older for
 * before and no bound, newer for after).
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

void handle_messages_list(api_request *r, db_conn *db);

#endif
