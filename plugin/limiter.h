/*
 * limiter.h - token buckets keyed by a short byte string.
 *
 * Used for the per-user message rate (rate r per second, burst b) and for
 * typing notices (one per user and conversation every 2 seconds: rate 0.5,
 * burst 1).  Pure: the caller passes the clock.  Main thread only.
 */
#ifndef PARLEY_LIMITER_H
#define PARLEY_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIMITER_KEY_MAX 32

typedef struct limiter limiter;

/* A table of buckets that refill at rate_per_s tokens a second up to burst
 * (burst >= 1).  Returns NULL on bad arguments or when out of memory. */
limiter *limiter_new(double rate_per_s, double burst);
void limiter_free(limiter *l);

/* Takes one token from the bucket of key (created full on first use).
 * Returns true if there was one: the action may proceed. */
bool limiter_take(limiter *l, const void *key, size_t key_len, int64_t now_ms);

/* Forgets buckets that have been full for a while, so the table holds only
 * recently active keys.  Returns how many were dropped. */
size_t limiter_prune(limiter *l, int64_t now_ms);

size_t limiter_count(const limiter *l);

#endif
