/*
 * recent_txn.h - the last few thousand (sender, txn) pairs the broker
 * stamped, with the id and time it gave them.
 *
 * A client that did not see its ack resends with the same txn.  The writer
 * already stores such a resend once and acks it with the first id; this
 * table lets the broker stamp the live copy with that same id and time, so
 * other members see one message, not two.  Bounded: the oldest entry makes
 * room for the newest.  Entries are found by a keyed hash of (sender, txn)
 * and confirmed on the full key, so a duplicate is never seen where there
 * is none.  Main thread only; pure data structure.
 */
#ifndef PARLEY_RECENT_TXN_H
#define PARLEY_RECENT_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "payload.h"
#include "uuid.h"

typedef struct recent_txn recent_txn;

/* A table holding at most capacity entries (>= 1), or NULL. */
recent_txn *recent_txn_new(size_t capacity);
/* For tests: the same with a fixed hash seed; with collide, every key
 * hashes alike, so lookups rely on the full-key comparison alone. */
recent_txn *recent_txn_new_for_test(size_t capacity, uint64_t seed,
                                    bool collide);
void recent_txn_free(recent_txn *t);

/* Looks up (sender, txn).  Returns true and fills id and ts when found. */
bool recent_txn_get(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t *id, int64_t *ts_ms);

/* Remembers (sender, txn) -> (id, ts), evicting the oldest if full. */
void recent_txn_put(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t id, int64_t ts_ms);

size_t recent_txn_count(const recent_txn *t);

#endif
