/*
 * recent_txn.c - bounded table of recently stamped (sender, txn) pairs (see
 * recent_txn.h).
 *
 * The entries live in a ring in the order they were added, so the oldest is
 * the one to evict.  They are found through an open-addressing index
 * (linear probing, at most half full) of 8-byte slots holding 32 bits of a
 * keyed hash and the entry's place in the ring: a lookup that misses, the
 * common case for a new message, reads only the index, one cache line or
 * two, and an entry is read only when its hash bits match.  A match is then
 * confirmed on the full key (sender and txn), so a hash collision can slow
 * a lookup down but never make two messages look like one.  Removal shifts
 * the following slots back instead of leaving tombstones.
 */
#include "recent_txn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct txn_entry {
    uint64_t id;
    int64_t ts_ms;
    uint32_t hash;   /* of the key: finds the entry's slot on eviction */
    uint8_t txn_len; /* 0 .. PAYLOAD_TXN_MAX */
    uuid_bin sender;
    char txn[PAYLOAD_TXN_MAX]; /* not NUL-terminated */
} txn_entry;

typedef struct txn_slot {
    uint32_t hash;
    uint32_t entry; /* ring index + 1; 0 for an empty slot */
} txn_slot;

struct recent_txn {
    txn_entry *ring;
    size_t capacity;
    size_t next;  /* ring slot to fill next (the oldest when full) */
    size_t count; /* entries held */
    txn_slot *slots;
    size_t mask; /* slots - 1; slots is a power of two >= 2 * capacity */
    uint64_t seed[2];
    bool collide; /* tests: every key hashes alike */
};

/* Folds the 128-bit product of a and b to 64 bits. */
static uint64_t fold(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;

    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof v);
    return v;
}

/* A keyed hash of (sender, txn[0..len)): keyed with a random seed, so
 * clients cannot choose txns that pile up in one place of the index. */
static uint32_t key_hash(const recent_txn *t, const uuid_bin *sender,
                         const char *txn, size_t len)
{
    static const uint64_t odd1 = 0x9e3779b97f4a7c15ULL;
    static const uint64_t odd2 = 0xc2b2ae3d27d4eb4fULL;
    uint64_t h = t->seed[0] ^ (len * odd1);
    unsigned char tail[16];
    size_t i = 0;

    if (t->collide)
        return 42;
    h = fold(load64(sender->b) ^ t->seed[1] ^ h,
             load64(sender->b + 8) ^ odd2);
    for (; i + 16 <= len; i += 16)
        h = fold(load64(txn + i) ^ t->seed[1] ^ h, load64(txn + i + 8) ^ odd2);
    if (i < len) {
        memset(tail, 0, sizeof tail);
        memcpy(tail, txn + i, len - i);
        h = fold(load64(tail) ^ t->seed[1] ^ h, load64(tail + 8) ^ odd2);
    }
    h = fold(h ^ t->seed[0], odd1);
    return (uint32_t)(h ^ (h >> 32));
}

static recent_txn *create(size_t capacity, const uint64_t seed[2], bool collide)
{
    recent_txn *t;
    size_t slots = 2;

    if (capacity == 0 || capacity > (1u << 30))
        return NULL;
    while (slots < 2 * capacity)
        slots *= 2;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ring = calloc(capacity, sizeof *t->ring);
    t->slots = calloc(slots, sizeof *t->slots);
    if (t->ring == NULL || t->slots == NULL) {
        recent_txn_free(t);
        return NULL;
    }
    t->capacity = capacity;
    t->mask = slots - 1;
    t->seed[0] = seed[0];
    t->seed[1] = seed[1];
    t->collide = collide;
    return t;
}

recent_txn *recent_txn_new(size_t capacity)
{
    /* A fixed seed if the kernel has none to give: slower under a
     * deliberate pile-up, never wrong. */
    uint64_t seed[2] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};

    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        seed[0] = 0x243f6a8885a308d3ULL;
        seed[1] = 0x13198a2e03707344ULL;
    }
    return create(capacity, seed, false);
}

recent_txn *recent_txn_new_for_test(size_t capacity, uint64_t seed,
                                    bool collide)
{
    uint64_t s[2] = {seed, ~seed};

    return create(capacity, s, collide);
}

void recent_txn_free(recent_txn *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t->ring);
    free(t);
}

static bool entry_is(const txn_entry *e, const uuid_bin *sender,
                     const char *txn, size_t len)
{
    return e->txn_len == len && memcmp(&e->sender, sender, sizeof *sender) == 0 &&
           memcmp(e->txn, txn, len) == 0;
}

/* The slot holding (sender, txn), or, when absent, the empty slot where it
 * would go. */
static size_t find_slot(const recent_txn *t, uint32_t hash,
                        const uuid_bin *sender, const char *txn, size_t len)
{
    size_t i = hash & t->mask;

    for (;;) {
        const txn_slot *s = &t->slots[i];
        if (s->entry == 0)
            return i;
        if (s->hash == hash &&
            entry_is(&t->ring[s->entry - 1], sender, txn, len))
            return i;
        i = (i + 1) & t->mask;
    }
}

/* Empties slot i, moving back the slots after it that probing would
 * otherwise no longer reach. */
static void remove_slot(recent_txn *t, size_t i)
{
    size_t j = i;

    for (;;) {
        size_t home;
        j = (j + 1) & t->mask;
        if (t->slots[j].entry == 0)
            break;
        home = t->slots[j].hash & t->mask;
        /* Slot j stays if its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    t->slots[i].entry = 0;
    t->slots[i].hash = 0;
}

/* Drops the oldest entry (the one at t->next) from the index. */
static void evict_oldest(recent_txn *t)
{
    const txn_entry *e = &t->ring[t->next];
    size_t i = e->hash & t->mask;

    while (t->slots[i].entry != t->next + 1)
        i = (i + 1) & t->mask;
    remove_slot(t, i);
    t->count--;
}

bool recent_txn_get(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t *id, int64_t *ts_ms)
{
    size_t len = strnlen(txn, PAYLOAD_TXN_MAX + 1);
    const txn_slot *s;
    const txn_entry *e;

    if (len > PAYLOAD_TXN_MAX)
        return false;
    s = &t->slots[find_slot(t, key_hash(t, sender, txn, len), sender, txn,
                            len)];
    if (s->entry == 0)
        return false;
    e = &t->ring[s->entry - 1];
    *id = e->id;
    *ts_ms = e->ts_ms;
    return true;
}

void recent_txn_put(recent_txn *t, const uuid_bin *sender, const char *txn,
                    uint64_t id, int64_t ts_ms)
{
    size_t len = strnlen(txn, PAYLOAD_TXN_MAX + 1);
    uint32_t hash;
    size_t i;
    txn_entry *e;

    if (len > PAYLOAD_TXN_MAX)
        return;
    hash = key_hash(t, sender, txn, len);
    i = find_slot(t, hash, sender, txn, len);
    if (t->slots[i].entry != 0)
        return; /* the first stamp stays */
    if (t->count == t->capacity) {
        evict_oldest(t);
        /* Removal may have moved slots: look for the free one again. */
        i = find_slot(t, hash, sender, txn, len);
    }
    e = &t->ring[t->next];
    e->id = id;
    e->ts_ms = ts_ms;
    e->hash = hash;
    e->txn_len = (uint8_t)len;
    e->sender = *sender;
    memcpy(e->txn, txn, len);
    t->slots[i].hash = hash;
    t->slots[i].entry = (uint32_t)(t->next + 1);
    t->next = (t->next + 1) % t->capacity;
    t->count++;
}

size_t recent_txn_count(const recent_txn *t)
{
    return t->count;
}
