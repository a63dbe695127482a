/*
 * membership.h - in-memory cache of conversation membership.
 *
 * The broker answers every publish, subscribe and delivery check from this
 * cache.  It is owned by the broker's main thread: the listener thread builds
 * a fresh snapshot on its own thread and hands it over whole, then sends
 * single changes, all applied on the main thread, so no lock is needed.
 */
#ifndef PARLEY_MEMBERSHIP_H
#define PARLEY_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>

#include "roles.h"
#include "uuid.h"

typedef struct membership_cache membership_cache;

/* Returns a new empty cache, or NULL when out of memory. */
membership_cache *membership_cache_new(void);

/* Frees the cache and its entries.  Accepts NULL. */
void membership_cache_free(membership_cache *cache);

/* Adds (conv, user) with role, or updates the role.  Returns 0, or -1 when
 * out of memory. */
int membership_cache_set(membership_cache *cache, const uuid_bin *conv,
                         const uuid_bin *user, member_role role);

/* Removes (conv, user) if present. */
void membership_cache_remove(membership_cache *cache, const uuid_bin *conv,
                             const uuid_bin *user);

/* True if user is a member of conv; stores the role when role is not NULL.
 * A NULL cache has no members. */
bool membership_cache_get(const membership_cache *cache, const uuid_bin *conv,
                          const uuid_bin *user, member_role *role);

/* True if users a and b are members of at least one common conversation.
 * Costs one lookup per conversation of a. */
bool membership_cache_share_conv(const membership_cache *cache,
                                 const uuid_bin *a, const uuid_bin *b);

/* Marks conv as announce-only (a channel: only owners and admins post) or
 * not.  Returns 0, or -1 when out of memory. */
int membership_cache_set_announce_only(membership_cache *cache,
                                       const uuid_bin *conv, bool on);

/* True if user may post in conv: a member, and in an announce-only
 * conversation an owner or admin. */
bool membership_cache_may_post(const membership_cache *cache,
                               const uuid_bin *conv, const uuid_bin *user);

/* Number of (conv, user) pairs held. */
size_t membership_cache_count(const membership_cache *cache);

#endif
