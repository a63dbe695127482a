/*
 * sessions.c - who is behind each connected client: the user, role, client
 * id and token expiry that auth established.
 *
 * Sessions are keyed by the broker's client pointer, which is stable for a
 * connection's life, and indexed by client id too: when a second connection
 * takes over a client id, the first one's session is marked closing, so the
 * will the broker sends on its behalf is refused like any other publish from
 * a connection that is going away.  Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "plugin_ctx.h"

struct client_session {
    const struct mosquitto *client; /* key of the main index */
    char *client_id;                /* key of the id index */
    uuid_bin user;
    char user_str[UUID_STR_LEN + 1];
    token_role role;
    int64_t exp;
    bool closing;
    bool in_id_index;
    UT_hash_handle hh;    /* by client pointer */
    UT_hash_handle hh_id; /* by client id */
};

static void session_free(parley_ctx *ctx, client_session *s)
{
    HASH_DELETE(hh, ctx->sessions, s);
    if (s->in_id_index)
        HASH_DELETE(hh_id, ctx->sessions_by_id, s);
    free(s->client_id);
    free(s);
}

int sessions_put(parley_ctx *ctx, const struct mosquitto *client,
                 const token_claims *claims)
{
    const char *client_id = mosquitto_client_id(client);
    client_session *s = NULL, *older = NULL;

    if (client_id == NULL)
        return -1;
    HASH_FIND_PTR(ctx->sessions, &client, s);
    if (s != NULL)
        session_free(ctx, s);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->client = client;
    s->client_id = strdup(client_id);
    if (s->client_id == NULL ||
        uuid_parse_n(claims->sub, UUID_STR_LEN, &s->user) != 0) {
        free(s->client_id);
        free(s);
        return -1;
    }
    memcpy(s->user_str, claims->sub, sizeof s->user_str);
    s->role = claims->role;
    s->exp = claims->exp;

    /* A connection taking over this client id: the older one is closing. */
    HASH_FIND(hh_id, ctx->sessions_by_id, s->client_id, strlen(s->client_id),
              older);
    if (older != NULL) {
        older->closing = true;
        HASH_DELETE(hh_id, ctx->sessions_by_id, older);
        older->in_id_index = false;
    }
    HASH_ADD_PTR(ctx->sessions, client, s);
    HASH_ADD_KEYPTR(hh_id, ctx->sessions_by_id, s->client_id,
                    strlen(s->client_id), s);
    s->in_id_index = true;
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
    if (s != NULL)
        session_free(ctx, s);
}

void sessions_kick_expired(parley_ctx *ctx, int64_t now_s)
{
    client_session *s, *tmp;

    HASH_ITER(hh, ctx->sessions, s, tmp)
    {
        if (!s->closing && s->exp < now_s - ctx->opt.jwt_leeway) {
            s->closing = true;
            mosquitto_log_printf(MOSQ_LOG_NOTICE,
                                 "parley: token of %s expired; disconnecting",
                                 s->client_id);
            /* The kick runs the disconnect callback, which frees s. */
            sessions_kick(ctx, s->client_id, NULL);
        }
    }
}

void sessions_kick(parley_ctx *ctx, const char *client_id,
                   const char *username)
{
    ctx->kicking = true;
    if (client_id != NULL)
        mosquitto_kick_client_by_clientid(client_id, false);
    else if (username != NULL)
        mosquitto_kick_client_by_username(username, false);
    ctx->kicking = false;
}

void sessions_free_all(parley_ctx *ctx)
{
    client_session *s, *tmp;

    HASH_ITER(hh, ctx->sessions, s, tmp)
    {
        session_free(ctx, s);
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

bool session_is_closing(const client_session *s)
{
    return s->closing;
}

const char *session_client_id(const client_session *s)
{
    return s->client_id;
}
