/*
 * presence.c - connected-device counts per user with an offline grace
 * period (see presence.h).
 */
#include "presence.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct user_presence {
    uuid_bin user;
    unsigned devices;
    int64_t left_ms;   /* when the last device left (devices == 0) */
    bool offline_due;  /* waiting for the grace to run out */
    UT_hash_handle hh;
} user_presence;

struct presence {
    int64_t grace_ms;
    user_presence *table;
};

presence *presence_new(int64_t grace_ms)
{
    presence *p = calloc(1, sizeof *p);

    if (p != NULL)
        p->grace_ms = grace_ms < 0 ? 0 : grace_ms;
    return p;
}

void presence_free(presence *p)
{
    user_presence *u, *tmp;

    if (p == NULL)
        return;
    HASH_ITER(hh, p->table, u, tmp)
    {
        HASH_DEL(p->table, u);
        free(u);
    }
    free(p);
}

static user_presence *find(const presence *p, const uuid_bin *user)
{
    user_presence *u = NULL;

    HASH_FIND(hh, p->table, user, sizeof *user, u);
    return u;
}

bool presence_connected(presence *p, const uuid_bin *user, int64_t now_ms)
{
    user_presence *u = find(p, user);

    (void)now_ms;
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL)
            return false;
        u->user = *user;
        HASH_ADD(hh, p->table, user, sizeof u->user, u);
    }
    u->devices++;
    if (u->devices > 1)
        return false;
    if (u->offline_due) {
        /* Back within the grace: the world never saw them leave. */
        u->offline_due = false;
        return false;
    }
    return true;
}

void presence_disconnected(presence *p, const uuid_bin *user, int64_t now_ms)
{
    user_presence *u = find(p, user);

    if (u == NULL || u->devices == 0)
        return;
    if (--u->devices == 0) {
        u->left_ms = now_ms;
        u->offline_due = true;
    }
}

void presence_expire(presence *p, int64_t now_ms,
                     void (*fn)(void *, const uuid_bin *, int64_t), void *arg)
{
    user_presence *u, *tmp;

    HASH_ITER(hh, p->table, u, tmp)
    {
        if (u->offline_due && now_ms - u->left_ms >= p->grace_ms) {
            uuid_bin user = u->user;
            int64_t left = u->left_ms;
            HASH_DEL(p->table, u);
            free(u);
            fn(arg, &user, left);
        }
    }
}

bool presence_is_online(const presence *p, const uuid_bin *user)
{
    const user_presence *u = find(p, user);

    return u != NULL && u->devices > 0;
}

unsigned presence_devices(const presence *p, const uuid_bin *user)
{
    const user_presence *u = find(p, user);

    return u ? u->devices : 0;
}
