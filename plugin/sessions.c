/*
 * sessions.c - who is behind each connected client: the user, role and
 * token expiry that auth established, keyed by the broker's client pointer
 * (stable for a connection's life, unlike the client id, which a second
 * connection may take over).  Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "plugin_ctx.h"

struct client_session {
    const struct mosquitto *client; /* key */
    uuid_bin user;
    char user_str[UUID_STR_LEN + 1];
    token_role role;
    int64_t exp;
    UT_hash_handle hh;
};

int sessions_put(parley_ctx *ctx, const struct mosquitto *client,
                 const token_claims *claims)
{
    client_session *s = NULL;

    HASH_FIND_PTR(ctx->sessions, &client, s);
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return -1;
        s->client = client;
        HASH_ADD_PTR(ctx->sessions, client, s);
    }
    if (uuid_parse_n(claims->sub, UUID_STR_LEN, &s->user) != 0) {
        HASH_DEL(ctx->sessions, s);
        free(s);
        return -1;
    }
    memcpy(s->user_str, claims->sub, sizeof s->user_str);
    s->role = claims->role;
    s->exp = claims->exp;
    return 0;
}

const client_session *sessions_get(parley_ctx *ctx,
                                   const struct mosquitto *client)
{
    client_session *s = NULL;

    HASH_FIND_PTR(ctx->sessions, &client, s);
    return s;
}

void sessions_remove(parley_ctx *ctx, const struct mosquitto *client)
{
    client_session *s = NULL;

    HASH_FIND_PTR(ctx->sessions, &client, s);
    if (s != NULL) {
        HASH_DEL(ctx->sessions, s);
        free(s);
    }
}

void sessions_free_all(parley_ctx *ctx)
{
    client_session *s, *tmp;

    HASH_ITER(hh, ctx->sessions, s, tmp)
    {
        HASH_DEL(ctx->sessions, s);
        free(s);
    }
}

const uuid_bin *session_user(const client_session *s)
{
    return &s->user;
}

const char *session_user_str(const client_session *s)
{
    return s->user_str;
}

bool session_is_admin(const client_session *s)
{
    return s->role == TOKEN_ROLE_ADMIN;
}
