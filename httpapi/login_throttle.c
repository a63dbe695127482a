/*
 * login_throttle.c - keyed GCRA budgets in a bounded table, and the login
 * and registration policies built on them (see login_throttle.h).
 */
#include "login_throttle.h"

#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots per set: a key lives in one of the THROTTLE_WAYS slots of the set
 * its hash picks. */
#define THROTTLE_WAYS 8
/* Separates the parts of a key; in neither addresses nor usernames. */
#define KEY_SEP "\x1f"

int throttle_init(throttle_table *t, size_t capacity, uint64_t seed)
{
    size_t sets = 1;

    memset(t, 0, sizeof *t);
    while (sets * THROTTLE_WAYS < capacity && sets < ((size_t)1 << 40))
        sets <<= 1;
    t->slots = calloc(sets * THROTTLE_WAYS, sizeof *t->slots);
    if (t->slots == NULL)
        return -1;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->slots);
        t->slots = NULL;
        return -1;
    }
    t->n_sets = sets;
    t->seed = seed;
    return 0;
}

void throttle_destroy(throttle_table *t)
{
    if (t == NULL || t->slots == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    t->slots = NULL;
    t->n_sets = 0;
}

/* FNV-1a over the seed and the key, then a 64-bit finaliser so that every
 * bit of the seed reaches the set index. */
static uint64_t key_hash(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static throttle_slot *set_of(throttle_table *t, const char *key)
{
    return &t->slots[(key_hash(t->seed, key) & (t->n_sets - 1)) *
                     THROTTLE_WAYS];
}

static throttle_slot *find(throttle_table *t, const char *key)
{
    throttle_slot *set = set_of(t, key);

    for (size_t i = 0; i < THROTTLE_WAYS; i++) {
        if (set[i].key[0] != '\0' && strcmp(set[i].key, key) == 0)
            return &set[i];
    }
    return NULL;
}

/* The slot for key, taking a free one or evicting the one whose budget is
 * fullest (smallest arrival time: forgetting it loses the least). */
static throttle_slot *find_or_add(throttle_table *t, const char *key)
{
    throttle_slot *set = set_of(t, key), *victim = NULL;

    for (size_t i = 0; i < THROTTLE_WAYS; i++) {
        if (set[i].key[0] == '\0') {
            if (victim == NULL || victim->key[0] != '\0')
                victim = &set[i];
            continue;
        }
        if (strcmp(set[i].key, key) == 0)
            return &set[i];
        if (victim == NULL ||
            (victim->key[0] != '\0' && set[i].tat < victim->tat))
            victim = &set[i];
    }
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->tat = INT64_MIN;
    return victim;
}

/* GCRA: the event at now would move the arrival time to
 * max(tat, now) + period; it fits while that is at most burst periods
 * ahead of now.  Returns the wait (0 when it fits). */
static int64_t gcra_wait(int64_t tat, const throttle_budget *b, int64_t now)
{
    int64_t next = (tat > now ? tat : now) + b->period_ms;
    int64_t limit = now + (int64_t)b->burst * b->period_ms;

    return next > limit ? next - limit : 0;
}

int64_t throttle_take(throttle_table *t, size_t n, const char *const keys[],
                      const throttle_budget budgets[], int64_t now)
{
    int64_t wait = 0;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        const throttle_slot *s;
        int64_t w;
        assert(strlen(keys[i]) < THROTTLE_KEY_MAX);
        if (budgets[i].burst == 0)
            continue;
        s = find(t, keys[i]);
        w = gcra_wait(s != NULL ? s->tat : INT64_MIN, &budgets[i], now);
        if (w > wait)
            wait = w;
    }
    if (wait == 0) {
        for (size_t i = 0; i < n; i++) {
            throttle_slot *s;
            if (budgets[i].burst == 0)
                continue;
            s = find_or_add(t, keys[i]);
            s->tat = (s->tat > now ? s->tat : now) + budgets[i].period_ms;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void throttle_give_back(throttle_table *t, size_t n, const char *const keys[],
                        const throttle_budget budgets[])
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        throttle_slot *s;
        if (budgets[i].burst == 0)
            continue;
        s = find(t, keys[i]);
        if (s != NULL)
            s->tat -= budgets[i].period_ms;
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_forget(throttle_table *t, const char *key)
{
    throttle_slot *s;

    pthread_mutex_lock(&t->lock);
    s = find(t, key);
    if (s != NULL) {
        s->key[0] = '\0';
        s->tat = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

long throttle_retry_after(int64_t ms)
{
    int64_t s = (ms + 999) / 1000;

    return s < 1 ? 1 : (long)s;
}

/* The three login keys of (address, username): pair, address, username.
 * The username is folded to lower case, as usernames compare. */
static void login_keys(char keys[3][THROTTLE_KEY_MAX], const char *address,
                       const char *username)
{
    char folded[41];
    size_t i;

    for (i = 0; username[i] != '\0' && i < sizeof folded - 1; i++)
        folded[i] = (char)tolower((unsigned char)username[i]);
    folded[i] = '\0';
    snprintf(keys[0], THROTTLE_KEY_MAX, "p" KEY_SEP "%.55s" KEY_SEP "%s",
             address, folded);
    snprintf(keys[1], THROTTLE_KEY_MAX, "a" KEY_SEP "%.55s", address);
    snprintf(keys[2], THROTTLE_KEY_MAX, "u" KEY_SEP "%s", folded);
}

static void login_budgets(throttle_budget b[3], const login_limits *l)
{
    b[0] = l->pair;
    b[1] = l->address;
    b[2] = l->username;
}

int64_t login_throttle_begin(throttle_table *t, const login_limits *l,
                             const char *address, const char *username,
                             int64_t now)
{
    char keys[3][THROTTLE_KEY_MAX];
    const char *k[3] = {keys[0], keys[1], keys[2]};
    throttle_budget b[3];

    login_keys(keys, address, username);
    login_budgets(b, l);
    return throttle_take(t, 3, k, b, now);
}

void login_throttle_succeeded(throttle_table *t, const login_limits *l,
                              const char *address, const char *username)
{
    char keys[3][THROTTLE_KEY_MAX];
    const char *k[2] = {keys[1], keys[2]};
    throttle_budget b[3];

    login_keys(keys, address, username);
    login_budgets(b, l);
    throttle_forget(t, keys[0]);
    throttle_give_back(t, 2, k, b + 1);
}

void login_throttle_cancel(throttle_table *t, const login_limits *l,
                           const char *address, const char *username)
{
    char keys[3][THROTTLE_KEY_MAX];
    const char *k[3] = {keys[0], keys[1], keys[2]};
    throttle_budget b[3];

    login_keys(keys, address, username);
    login_budgets(b, l);
    throttle_give_back(t, 3, k, b);
}

int64_t register_throttle_take(throttle_table *t, const login_limits *l,
                               const char *address, int64_t now)
{
    char key[THROTTLE_KEY_MAX];
    const char *k[1] = {key};

    snprintf(key, sizeof key, "r" KEY_SEP "%.55s", address);
    return throttle_take(t, 1, k, &l->registration, now);
}
