/*
 * user_flags.c - per-user revocation, ban and presence settings (see
 * user_flags.h).
 */
#include "user_flags.h"

#include <stdlib.h>
#include <uthash.h>

typedef struct flag_entry {
    uuid_bin user;
    user_flag_values v;
    UT_hash_handle hh;
} flag_entry;

struct user_flags {
    flag_entry *table;
};

user_flags *user_flags_new(void)
{
    return calloc(1, sizeof(user_flags));
}

void user_flags_free(user_flags *f)
{
    flag_entry *e, *tmp;

    if (f == NULL)
        return;
    HASH_ITER(hh, f->table, e, tmp)
    {
        HASH_DEL(f->table, e);
        free(e);
    }
    free(f);
}

static bool all_clear(const user_flag_values *v)
{
    return v->tokens_valid_after_s == 0 && v->banned_until_s == 0 &&
           !v->presence_hidden;
}

int user_flags_set(user_flags *f, const uuid_bin *user,
                   const user_flag_values *v)
{
    flag_entry *e = NULL;

    HASH_FIND(hh, f->table, user, sizeof *user, e);
    if (all_clear(v)) {
        if (e != NULL) {
            HASH_DEL(f->table, e);
            free(e);
        }
        return 0;
    }
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL)
            return -1;
        e->user = *user;
        HASH_ADD(hh, f->table, user, sizeof e->user, e);
    }
    e->v = *v;
    return 0;
}

user_flag_values user_flags_get(const user_flags *f, const uuid_bin *user)
{
    flag_entry *e = NULL;
    user_flag_values none = {0, 0, false};

    if (f == NULL)
        return none;
    HASH_FIND(hh, f->table, user, sizeof *user, e);
    return e ? e->v : none;
}

bool user_flags_token_allowed(const user_flags *f, const uuid_bin *user,
                              int64_t iat, int64_t now_s)
{
    user_flag_values v = user_flags_get(f, user);

    if (v.banned_until_s != 0 && v.banned_until_s > now_s)
        return false;
    if (v.tokens_valid_after_s != 0 && iat <= v.tokens_valid_after_s)
        return false;
    return true;
}
