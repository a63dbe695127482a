/*
 * limiter.c - token buckets keyed by a short byte string (see limiter.h).
 */
#include "limiter.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct bucket {
    unsigned char key[LIMITER_KEY_MAX];
    double tokens;
    int64_t last_ms;
    UT_hash_handle hh;
} bucket;

struct limiter {
    double rate_per_ms;
    double burst;
    bucket *table;
};

limiter *limiter_new(double rate_per_s, double burst)
{
    limiter *l;

    if (!(rate_per_s > 0) || !(burst >= 1))
        return NULL;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->rate_per_ms = rate_per_s / 1000.0;
    l->burst = burst;
    return l;
}

void limiter_free(limiter *l)
{
    bucket *b, *tmp;

    if (l == NULL)
        return;
    HASH_ITER(hh, l->table, b, tmp)
    {
        HASH_DEL(l->table, b);
        free(b);
    }
    free(l);
}

static void refill(const limiter *l, bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * l->rate_per_ms;
        if (b->tokens > l->burst)
            b->tokens = l->burst;
        b->last_ms = now_ms;
    }
}

bool limiter_take(limiter *l, const void *key, size_t key_len, int64_t now_ms)
{
    unsigned char k[LIMITER_KEY_MAX] = {0};
    bucket *b = NULL;

    if (key_len > LIMITER_KEY_MAX)
        key_len = LIMITER_KEY_MAX;
    memcpy(k, key, key_len);
    HASH_FIND(hh, l->table, k, sizeof k, b);
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL)
            return true; /* out of memory: do not punish the client */
        memcpy(b->key, k, sizeof k);
        b->tokens = l->burst;
        b->last_ms = now_ms;
        HASH_ADD(hh, l->table, key, sizeof b->key, b);
    }
    refill(l, b, now_ms);
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

size_t limiter_prune(limiter *l, int64_t now_ms)
{
    bucket *b, *tmp;
    size_t dropped = 0;

    HASH_ITER(hh, l->table, b, tmp)
    {
        refill(l, b, now_ms);
        if (b->tokens >= l->burst) {
            HASH_DEL(l->table, b);
            free(b);
            dropped++;
        }
    }
    return dropped;
}

size_t limiter_count(const limiter *l)
{
    return HASH_COUNT(l->table);
}
