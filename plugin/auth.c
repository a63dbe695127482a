/*
 * auth.c - MOSQ_EVT_BASIC_AUTH: a client connects with its access token as
 * the password, the token's sub as the username and "<sub>:<device>" as the
 * client id.  Every other client is refused here, and so are tokens revoked
 * by a logout everywhere or a password change, and banned users; this plugin
 * never defers, so no other plugin or anonymous access can let a client in.
 * Connects and disconnects also drive presence.
 */
#include <string.h>
#include <time.h>

#include "identity.h"
#include "plugin_ctx.h"

static int refuse(const struct mosquitto *client, const char *why)
{
    /* The client id is chosen by the client: log only a bounded part. */
    const char *id = mosquitto_client_id(client);
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "parley: refused connection from %s (client %.100s): %s",
                         mosquitto_client_address(client),
                         id ? id : "(none)", why);
    return MOSQ_ERR_AUTH;
}

int parley_on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    parley_ctx *ctx = userdata;
    token_claims claims;
    token_status st;
    uuid_bin user;
    bool counted;

    (void)event;
    if (!ctx->members_loaded) {
        /* Every ACL verdict needs the memberships: a client let in now
         * would see its subscriptions refused for good.  Dropped without
         * a CONNACK, it reconnects once the broker is ready. */
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "parley: connection from %s turned away: "
                             "memberships not loaded yet",
                             mosquitto_client_address(ed->client));
        return MOSQ_ERR_UNKNOWN;
    }
    if (ed->password == NULL || ed->username == NULL)
        return refuse(ed->client, "username and token required");
    st = token_verify(&ctx->verifier, ed->password,
                      strnlen(ed->password, TOKEN_MAX_BYTES + 1), time(NULL),
                      &claims);
    if (st != TOKEN_OK)
        return refuse(ed->client, token_status_str(st));
    if (strcmp(ed->username, claims.sub) != 0)
        return refuse(ed->client, "username is not the token's subject");
    if (!client_id_matches(mosquitto_client_id(ed->client), claims.sub))
        return refuse(ed->client, "client id must be <user id>:<device>");
    if (uuid_parse_n(claims.sub, UUID_STR_LEN, &user) != 0 ||
        !user_flags_token_allowed(ctx->flags, &user, claims.iat, time(NULL)))
        return refuse(ed->client, "token revoked or user banned");
    counted = sessions_get(ctx, ed->client) != NULL;
    if (sessions_put(ctx, ed->client, &claims) != 0)
        return refuse(ed->client, "out of memory");
    if (!counted)
        presence_on_connect(ctx, &user);
    return MOSQ_ERR_SUCCESS;
}

int parley_on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    parley_ctx *ctx = userdata;
    const client_session *s = sessions_get(ctx, ed->client);

    (void)event;
    if (s != NULL) {
        uuid_bin user = *session_user(s);
        /* An MQTT 3.1.1 clean session's subscriptions end with the
         * connection.  A persistent one keeps them for the device's return,
         * and so may an MQTT 5 session started clean (its expiry interval,
         * which the plugin cannot read, decides): those are kept until the
         * broker reports none held or the tick prunes them.  A connection
         * that was taken over leaves them to its successor. */
        if (mosquitto_client_protocol_version(ed->client) != 5 &&
            mosquitto_client_clean_session(ed->client) && !session_is_closing(s))
            sub_ledger_forget(ctx->subs, session_client_id(s));
        sessions_remove(ctx, ed->client);
        presence_on_disconnect(ctx, &user);
    }
    return MOSQ_ERR_SUCCESS;
}
