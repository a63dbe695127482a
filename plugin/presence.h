/*
 * presence.h - who is online: a count of connected devices per user, with a
 * grace period before "offline" so that a quick reconnect does not flap.
 *
 * Pure state machine; the caller publishes what it says and passes the
 * clock.  Main thread only.
 */
#ifndef PARLEY_PRESENCE_H
#define PARLEY_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "uuid.h"

typedef struct presence presence;

/* A tracker whose users go offline grace_ms after their last device left. */
presence *presence_new(int64_t grace_ms);
void presence_free(presence *p);

/* A device of user connected.  Returns true if the user must now be
 * announced online; false if another device was already connected, or if
 * the user came back within the grace period (no offline was announced). */
bool presence_connected(presence *p, const uuid_bin *user, int64_t now_ms);

/* A device of user left.  When it was the last one, the user goes offline
 * at now_ms + grace unless a device comes back first. */
void presence_disconnected(presence *p, const uuid_bin *user, int64_t now_ms);

/* Calls fn for every user whose grace has run out by now_ms, with the time
 * their last device left (last seen), and forgets them. */
void presence_expire(presence *p, int64_t now_ms,
                     void (*fn)(void *arg, const uuid_bin *user,
                                int64_t last_seen_ms),
                     void *arg);

/* True if user has at least one device connected. */
bool presence_is_online(const presence *p, const uuid_bin *user);

/* Number of connected devices of user. */
unsigned presence_devices(const presence *p, const uuid_bin *user);

#endif
