/*
 * handlers_member_state.h - the caller's own state in a conversation:
 *
 *   POST /v1/conversations/{c}/read {"up_to":"<message id>"}
 *       Moves the caller's read pointer forward to up_to, a message of
 *       {c} (400 otherwise).  The pointer never moves back: an older or
 *       equal up_to changes nothing.  When it moves, the receipt takes a
 *       change seq (for GET /v1/sync) and is announced, in the same
 *       transaction, as {"type":"receipt","conv","user","kind":"read",
 *       "up_to","ts"}; the broker fans it out on conv/{c}/receipt as if it
 *       had come over MQTT.  204 either way.
 *   PUT /v1/conversations/{c}/mute {"until": <unix ms> | null}
 *       Mutes {c} for the caller until then; null or no "until" mutes it
 *       for ever.  Mute is a notification preference: messages are still
 *       delivered.  204.
 *   DELETE /v1/conversations/{c}/mute
 *       Unmutes.  204.
 *
 * A conversation the caller is not a member of answers 404.
 */
#ifndef PARLEY_API_HANDLERS_MEMBER_STATE_H
#define PARLEY_API_HANDLERS_MEMBER_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "request.h"

/* Latest accepted "until": 9999-12-31T23:59:59.999Z. */
#define MUTE_UNTIL_MAX_MS 253402300799999LL

/* Reads a mute body's "until".  Returns 0 with *forever set, or false and
 * *until_ms; -1 with a message in *why when it is not null, absent or an
 * integer in 0..MUTE_UNTIL_MAX_MS.  Pure. */
int mute_until_parse(const json_t *body, bool *forever, int64_t *until_ms,
                     const char **why);

void handle_conv_read(api_request *r, db_conn *db);
void handle_conv_mute(api_request *r, db_conn *db);
void handle_conv_unmute(api_request *r, db_conn *db);

#endif
