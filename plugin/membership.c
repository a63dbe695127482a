/*
 * membership.c - in-memory cache of conversation membership (see
 * membership.h), a uthash table keyed by the 32 bytes of (conv, user).
 */
#include "membership.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct member_key {
    uuid_bin conv;
    uuid_bin user;
} member_key;

typedef struct member_entry {
    member_key key;
    member_role role;
    UT_hash_handle hh;
} member_entry;

struct membership_cache {
    member_entry *table;
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
    HASH_ITER(hh, cache->table, e, tmp)
    {
        HASH_DEL(cache->table, e);
        free(e);
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
    HASH_ADD(hh, cache->table, key, sizeof e->key, e);
    return 0;
}

void membership_cache_remove(membership_cache *cache, const uuid_bin *conv,
                             const uuid_bin *user)
{
    member_entry *e = find(cache, conv, user);

    if (e != NULL) {
        HASH_DEL(cache->table, e);
        free(e);
    }
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

size_t membership_cache_count(const membership_cache *cache)
{
    return cache == NULL ? 0 : HASH_COUNT(cache->table);
}

int member_role_parse(const char *s, member_role *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "member") == 0)
        *out = MEMBER_ROLE_MEMBER;
    else if (strcmp(s, "admin") == 0)
        *out = MEMBER_ROLE_ADMIN;
    else if (strcmp(s, "owner") == 0)
        *out = MEMBER_ROLE_OWNER;
    else
        return -1;
    return 0;
}
