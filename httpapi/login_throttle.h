/*
 * login_throttle.h - budgets for failed logins and for registrations, so
 * that guessing passwords over HTTP is slow and a stranger cannot lock a
 * user out from elsewhere.
 *
 * A throttle_table is a bounded, set-associative hash table of keys, each
 * with a budget kept as a generic cell rate (GCRA): `burst` events at once,
 * then one more every `period_ms`.  It is shared by the server's threads
 * (its own mutex), allocates only in throttle_init, and when a set is full
 * evicts the key whose budget is closest to full.  Time is passed in by the
 * caller (milliseconds of any monotonic clock), so the logic is tested with
 * an invented clock.
 *
 * Login uses three budgets for failures: per (username, client address),
 * tight; per client address and per username, looser.  An attempt is
 * charged to all three before the password is checked (so parallel guesses
 * cannot slip through together) and refused with the wait when any is
 * spent; a successful login clears its pair and gives the other two their
 * charge back.  Registration has one budget per client address.
 */
#ifndef PARLEY_API_LOGIN_THROTTLE_H
#define PARLEY_API_LOGIN_THROTTLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key: kind, separator, address text, separator, username. */
#define THROTTLE_KEY_MAX 104
/* Room for a client address as login_throttle keys expect it. */
#define THROTTLE_ADDR_MAX 56

typedef struct throttle_budget {
    unsigned burst;    /* events allowed at once; 0 switches the budget off */
    int64_t period_ms; /* one more event every period_ms (> 0) */
} throttle_budget;

typedef struct throttle_slot {
    char key[THROTTLE_KEY_MAX]; /* "" when free */
    int64_t tat; /* when the budget is full again (ms); GCRA's arrival time */
} throttle_slot;

typedef struct throttle_table {
    pthread_mutex_t lock;
    throttle_slot *slots; /* owned; n_sets * THROTTLE_WAYS */
    size_t n_sets;        /* a power of two */
    uint64_t seed;        /* keys the hash, so sets cannot be aimed at */
} throttle_table;

typedef struct login_limits {
    throttle_budget pair;         /* failures per (username, address) */
    throttle_budget address;      /* failures per address, any username */
    throttle_budget username;     /* failures per username, any address */
    throttle_budget registration; /* registrations per address */
} login_limits;

/* Prepares t for at least capacity keys (rounded up to a power of two, at
 * least one set).  seed should be random.  Returns 0, or -1 on allocation
 * failure (t is then safe to destroy). */
int throttle_init(throttle_table *t, size_t capacity, uint64_t seed);

/* Frees what t holds.  Accepts a table never or unsuccessfully
 * initialised (zeroed). */
void throttle_destroy(throttle_table *t);

/* Charges one event to each of the n keys under its budget, all or none,
 * at time now.  Returns 0 when charged, or the milliseconds until every
 * budget would allow it (> 0), charging nothing.  Keys must be shorter than
 * THROTTLE_KEY_MAX. */
int64_t throttle_take(throttle_table *t, size_t n, const char *const keys[],
                      const throttle_budget budgets[], int64_t now);

/* Undoes one throttle_take of the same keys (the event turned out not to
 * count).  Keys evicted meanwhile are left alone. */
void throttle_give_back(throttle_table *t, size_t n, const char *const keys[],
                        const throttle_budget budgets[]);

/* Forgets key: its budget is full again. */
void throttle_forget(throttle_table *t, const char *key);

/* Whole seconds to announce in Retry-After for a wait of ms (at least 1). */
long throttle_retry_after(int64_t ms);

/* A login attempt of username from address (text, at most
 * THROTTLE_ADDR_MAX - 1 bytes; usernames compare case-insensitively).
 * Returns 0 when it may go on (and is charged as a failure), or the
 * milliseconds to wait. */
int64_t login_throttle_begin(throttle_table *t, const login_limits *l,
                             const char *address, const char *username,
                             int64_t now);

/* The attempt begun with login_throttle_begin logged in: the pair's
 * failures are forgotten and the address and username budgets get their
 * charge back. */
void login_throttle_succeeded(throttle_table *t, const login_limits *l,
                              const char *address, const char *username);

/* The attempt begun with login_throttle_begin ended for a reason that says
 * nothing about the password (a server error): every charge is undone. */
void login_throttle_cancel(throttle_table *t, const login_limits *l,
                           const char *address, const char *username);

/* A registration from address.  Returns 0 when it may go on (charged), or
 * the milliseconds to wait. */
int64_t register_throttle_take(throttle_table *t, const login_limits *l,
                               const char *address, int64_t now);

#endif
