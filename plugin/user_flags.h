/*
 * user_flags.h - what the broker must know about a few users between
 * connects: tokens revoked up to a time (logout everywhere, password
 * change), a ban, hidden presence.  Users with nothing set are not stored.
 * Loaded with the membership snapshot and kept current by events.  Pure
 * data structure; main thread only.
 */
#ifndef PARLEY_USER_FLAGS_H
#define PARLEY_USER_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "uuid.h"

typedef struct user_flag_values {
    int64_t tokens_valid_after_s; /* 0: none; tokens with iat <= it refused */
    int64_t banned_until_s;       /* 0: not banned */
    bool presence_hidden;
} user_flag_values;

typedef struct user_flags user_flags;

user_flags *user_flags_new(void);
void user_flags_free(user_flags *f);

/* Sets the values for user (removing the entry when nothing is set).
 * Returns 0, or -1 when out of memory. */
int user_flags_set(user_flags *f, const uuid_bin *user,
                   const user_flag_values *v);

/* The values for user (all clear if unknown). */
user_flag_values user_flags_get(const user_flags *f, const uuid_bin *user);

/* True if a token of user issued at iat may connect at now: not revoked,
 * user not banned. */
bool user_flags_token_allowed(const user_flags *f, const uuid_bin *user,
                              int64_t iat, int64_t now_s);

#endif
