/*
 * sub_ledger.c - the topic filters the broker holds for each client id (see
 * sub_ledger.h): a uthash table by client id, each entry a sorted array of
 * 64-bit FNV-1a hashes of its filters.  Eight bytes per subscription; a
 * collision only makes a new filter look like a repeat, which costs the
 * client one unit of its repeat budget.  Each use moves an entry to the end
 * of the table's order, so the least recently used is always first: that is
 * the one eviction and pruning take.
 */
#include "sub_ledger.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct ledger_entry {
    char *client_id;
    uint64_t *hashes; /* sorted, distinct */
    size_t n, cap;
    int64_t used_ms;
    UT_hash_handle hh;
} ledger_entry;

struct sub_ledger {
    ledger_entry *table; /* least recently used first */
    size_t max_clients, max_filters;
    size_t total; /* filters recorded over all entries */
};

static uint64_t filter_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* The index of h in e->hashes, or where it would go. */
static size_t position(const ledger_entry *e, uint64_t h, bool *found)
{
    size_t lo = 0, hi = e->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->hashes[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < e->n && e->hashes[lo] == h;
    return lo;
}

static void entry_free(sub_ledger *l, ledger_entry *e)
{
    l->total -= e->n;
    HASH_DEL(l->table, e);
    free(e->client_id);
    free(e->hashes);
    free(e);
}

static ledger_entry *entry_find(const sub_ledger *l, const char *client_id)
{
    ledger_entry *e = NULL;

    HASH_FIND_STR(l->table, client_id, e);
    return e;
}

/* Moves e to the end of the order, as the most recently used. */
static void entry_touch(sub_ledger *l, ledger_entry *e, int64_t now_ms)
{
    e->used_ms = now_ms;
    HASH_DEL(l->table, e);
    HASH_ADD_KEYPTR(hh, l->table, e->client_id, strlen(e->client_id), e);
}

static ledger_entry *entry_add(sub_ledger *l, const char *client_id)
{
    ledger_entry *e = calloc(1, sizeof *e);

    if (e == NULL)
        return NULL;
    e->client_id = strdup(client_id);
    if (e->client_id == NULL) {
        free(e);
        return NULL;
    }
    if (HASH_COUNT(l->table) >= l->max_clients)
        entry_free(l, l->table);
    HASH_ADD_KEYPTR(hh, l->table, e->client_id, strlen(e->client_id), e);
    return e;
}

sub_ledger *sub_ledger_new(size_t max_clients, size_t max_filters)
{
    sub_ledger *l;

    if (max_clients < 1 || max_filters < 1)
        return NULL;
    l = calloc(1, sizeof *l);
    if (l != NULL) {
        l->max_clients = max_clients;
        l->max_filters = max_filters;
    }
    return l;
}

void sub_ledger_free(sub_ledger *l)
{
    if (l == NULL)
        return;
    while (l->table != NULL)
        entry_free(l, l->table);
    free(l);
}

sub_ledger_verdict sub_ledger_subscribe(sub_ledger *l, const char *client_id,
                                        int broker_subs, const char *filter,
                                        int64_t now_ms)
{
    ledger_entry *e = entry_find(l, client_id);
    uint64_t h = filter_hash(filter);
    size_t at;
    bool found;

    if (e != NULL && broker_subs <= 0) {
        l->total -= e->n; /* the broker holds nothing: the record is stale */
        e->n = 0;
    }
    if (e == NULL && (e = entry_add(l, client_id)) == NULL)
        return SUB_LEDGER_NEW;
    entry_touch(l, e, now_ms);
    at = position(e, h, &found);
    if (found)
        return SUB_LEDGER_REPEAT;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        uint64_t *grown = realloc(e->hashes, cap * sizeof *grown);
        if (grown == NULL)
            return SUB_LEDGER_NEW;
        e->hashes = grown;
        e->cap = cap;
    }
    memmove(e->hashes + at + 1, e->hashes + at, (e->n - at) * sizeof *e->hashes);
    e->hashes[at] = h;
    e->n++;
    l->total++;
    /* Over the bound, the least recently used go (e, just used, is last;
     * alone, it keeps what it has). */
    while (l->total > l->max_filters && l->table != e)
        entry_free(l, l->table);
    return SUB_LEDGER_NEW;
}

void sub_ledger_unsubscribe(sub_ledger *l, const char *client_id,
                            const char *filter, int64_t now_ms)
{
    ledger_entry *e = entry_find(l, client_id);
    size_t at;
    bool found;

    if (e == NULL)
        return;
    entry_touch(l, e, now_ms);
    at = position(e, filter_hash(filter), &found);
    if (!found)
        return;
    memmove(e->hashes + at, e->hashes + at + 1,
            (e->n - at - 1) * sizeof *e->hashes);
    e->n--;
    l->total--;
    if (e->n == 0)
        entry_free(l, e);
}

void sub_ledger_forget(sub_ledger *l, const char *client_id)
{
    ledger_entry *e = entry_find(l, client_id);

    if (e != NULL)
        entry_free(l, e);
}

size_t sub_ledger_prune(sub_ledger *l, int64_t now_ms, int64_t idle_ms)
{
    size_t dropped = 0;

    while (l->table != NULL && now_ms - l->table->used_ms >= idle_ms) {
        entry_free(l, l->table);
        dropped++;
    }
    return dropped;
}

size_t sub_ledger_clients(const sub_ledger *l)
{
    return HASH_COUNT(l->table);
}

size_t sub_ledger_total(const sub_ledger *l)
{
    return l->total;
}

size_t sub_ledger_filters(const sub_ledger *l, const char *client_id)
{
    const ledger_entry *e = entry_find(l, client_id);

    return e != NULL ? e->n : 0;
}
