/*
 * membership.c - in-memory cache of conversation membership (see
 * membership.h), a uthash table keyed by the 32 bytes of (conv, user).
 */
#include "membership.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every key in this file is one or two uuids (16 or 32 bytes), already
 * random or time-ordered, so a word-at-a-time multiply-xorshift mix spreads
 * them as well as uthash's default byte-wise Jenkins hash, at a fraction of
 * the cost on the per-delivery path.  All tables here use it. */
static inline unsigned uuid_key_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15u ^ len;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, sizeof w);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return (unsigned)h;
}

#define HASH_FUNCTION(keyptr, keylen, hashv)                                  \
    ((hashv) = uuid_key_hash((keyptr), (size_t)(keylen)))
#include <uthash.h>

typedef struct member_key {
    uuid_bin conv;
    uuid_bin user;
} member_key;

typedef struct member_entry {
    member_key key;
    member_role role;
    struct member_entry *prev_of_user, *next_of_user;
    UT_hash_handle hh;
} member_entry;

/* Per user, the list of their memberships (for "shares a conversation"). */
typedef struct user_entry {
    uuid_bin user;
    member_entry *first;
    UT_hash_handle hh;
} user_entry;

/* Conversations where only owners and admins post (channels). */
typedef struct announce_entry {
    uuid_bin conv;
    UT_hash_handle hh;
} announce_entry;

struct membership_cache {
    member_entry *table;
    user_entry *users;
    announce_entry *announce_only;
};

membership_cache *membership_cache_new(void)
{
    return calloc(1, sizeof(membership_cache));
}

void membership_cache_free(membership_cache *cache)
{
    member_entry *e, *tmp;

    if (cache == NULL)
        return;
    user_entry *u, *utmp;
    announce_entry *a, *atmp;

    HASH_ITER(hh, cache->table, e, tmp)
    {
        HASH_DEL(cache->table, e);
        free(e);
    }
    HASH_ITER(hh, cache->users, u, utmp)
    {
        HASH_DEL(cache->users, u);
        free(u);
    }
    HASH_ITER(hh, cache->announce_only, a, atmp)
    {
        HASH_DEL(cache->announce_only, a);
        free(a);
    }
    free(cache);
}

static member_entry *find(const membership_cache *cache, const uuid_bin *conv,
                          const uuid_bin *user)
{
    member_key key;
    member_entry *e = NULL;

    memcpy(&key.conv, conv, sizeof key.conv);
    memcpy(&key.user, user, sizeof key.user);
    HASH_FIND(hh, cache->table, &key, sizeof key, e);
    return e;
}

int membership_cache_set(membership_cache *cache, const uuid_bin *conv,
                         const uuid_bin *user, member_role role)
{
    member_entry *e = find(cache, conv, user);

    if (e != NULL) {
        e->role = role;
        return 0;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return -1;
    memcpy(&e->key.conv, conv, sizeof e->key.conv);
    memcpy(&e->key.user, user, sizeof e->key.user);
    e->role = role;

    user_entry *u = NULL;
    HASH_FIND(hh, cache->users, user, sizeof *user, u);
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL) {
            free(e);
            return -1;
        }
        u->user = *user;
        HASH_ADD(hh, cache->users, user, sizeof u->user, u);
    }
    e->next_of_user = u->first;
    if (u->first != NULL)
        u->first->prev_of_user = e;
    u->first = e;
    HASH_ADD(hh, cache->table, key, sizeof e->key, e);
    return 0;
}

void membership_cache_remove(membership_cache *cache, const uuid_bin *conv,
                             const uuid_bin *user)
{
    member_entry *e = find(cache, conv, user);
    user_entry *u = NULL;

    if (e == NULL)
        return;
    HASH_FIND(hh, cache->users, user, sizeof *user, u);
    if (u != NULL) {
        if (e->prev_of_user != NULL)
            e->prev_of_user->next_of_user = e->next_of_user;
        else
            u->first = e->next_of_user;
        if (e->next_of_user != NULL)
            e->next_of_user->prev_of_user = e->prev_of_user;
        if (u->first == NULL) {
            HASH_DEL(cache->users, u);
            free(u);
        }
    }
    HASH_DEL(cache->table, e);
    free(e);
}

bool membership_cache_share_conv(const membership_cache *cache,
                                 const uuid_bin *a, const uuid_bin *b)
{
    user_entry *u = NULL;

    if (cache == NULL)
        return false;
    HASH_FIND(hh, cache->users, a, sizeof *a, u);
    for (member_entry *e = u ? u->first : NULL; e != NULL;
         e = e->next_of_user) {
        if (find(cache, &e->key.conv, b) != NULL)
            return true;
    }
    return false;
}

bool membership_cache_get(const membership_cache *cache, const uuid_bin *conv,
                          const uuid_bin *user, member_role *role)
{
    member_entry *e;

    if (cache == NULL)
        return false;
    e = find(cache, conv, user);
    if (e == NULL)
        return false;
    if (role != NULL)
        *role = e->role;
    return true;
}

int membership_cache_set_announce_only(membership_cache *cache,
                                      const uuid_bin *conv, bool on)
{
    announce_entry *a = NULL;

    HASH_FIND(hh, cache->announce_only, conv, sizeof *conv, a);
    if (on && a == NULL) {
        a = calloc(1, sizeof *a);
        if (a == NULL)
            return -1;
        a->conv = *conv;
        HASH_ADD(hh, cache->announce_only, conv, sizeof a->conv, a);
    } else if (!on && a != NULL) {
        HASH_DEL(cache->announce_only, a);
        free(a);
    }
    return 0;
}

bool membership_cache_may_post(const membership_cache *cache,
                               const uuid_bin *conv, const uuid_bin *user)
{
    member_role role;
    announce_entry *a = NULL;

    if (!membership_cache_get(cache, conv, user, &role))
        return false;
    HASH_FIND(hh, cache->announce_only, conv, sizeof *conv, a);
    return a == NULL || role == MEMBER_ROLE_ADMIN || role == MEMBER_ROLE_OWNER;
}

size_t membership_cache_count(const membership_cache *cache)
{
    return cache == NULL ? 0 : HASH_COUNT(cache->table);
}
