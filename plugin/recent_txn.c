/*
 * recent_txn.c - bounded table of recently stamped (sender, txn) pairs (see
 * recent_txn.h): a uthash index over a ring of preallocated entries.
 */
#include "recent_txn.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct txn_key {
    uuid_bin sender;
    char txn[PAYLOAD_TXN_MAX + 1]; /* zero-padded, so the key is fixed-size */
} txn_key;

typedef struct txn_entry {
    txn_key key;
    uint64_t id;
    int64_t ts_ms;
    bool used;
    UT_hash_handle hh;
} txn_entry;

struct recent_txn {
    txn_entry *ring;
    size_t capacity;
    size_t next; /* ring slot to fill next (the oldest when full) */
    txn_entry *index;
};

recent_txn *recent_txn_new(size_t capacity)
{
    recent_txn *t;

    if (capacity == 0)
        return NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ring = calloc(capacity, sizeof *t->ring);
    if (t->ring == NULL) {
        free(t);
        return NULL;
    }
    t->capacity = capacity;
    return t;
}

void recent_txn_free(recent_txn *t)
{
    if (t == NULL)
        return;
    HASH_CLEAR(hh, t->index);
    free(t->ring);
    free(t);
}

static int make_key(txn_key *key, const uuid_bin *sender, const char *txn)
{
    size_t n = strlen(txn);

    if (n > PAYLOAD_TXN_MAX)
        return -1;
    memset(key, 0, sizeof *key);
    key->sender = *sender;
    memcpy(key->txn, txn, n);
    return 0;
}

bool recent_txn_get(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t *id, int64_t *ts_ms)
{
    txn_key key;
    txn_entry *e = NULL;

    if (make_key(&key, sender, txn) != 0)
        return false;
    HASH_FIND(hh, t->index, &key, sizeof key, e);
    if (e == NULL)
        return false;
    *id = e->id;
    *ts_ms = e->ts_ms;
    return true;
}

void recent_txn_put(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t id, int64_t ts_ms)
{
    txn_key key;
    txn_entry *e = NULL;

    if (make_key(&key, sender, txn) != 0)
        return;
    HASH_FIND(hh, t->index, &key, sizeof key, e);
    if (e != NULL)
        return; /* the first stamp stays */
    e = &t->ring[t->next];
    if (e->used)
        HASH_DEL(t->index, e);
    e->key = key;
    e->id = id;
    e->ts_ms = ts_ms;
    e->used = true;
    HASH_ADD(hh, t->index, key, sizeof e->key, e);
    t->next = (t->next + 1) % t->capacity;
}

size_t recent_txn_count(const recent_txn *t)
{
    return HASH_COUNT(t->index);
}
