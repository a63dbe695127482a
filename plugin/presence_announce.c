/*
 * presence_announce.c - turns connects and disconnects into the retained
 * user/{u}/presence messages (and last-seen times) that contacts see.
 *
 * presence.c decides when a user is online or offline; this file publishes
 * it, unless the user hides their presence, and hands last-seen times to the
 * writer.  Main thread only.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"

static void publish_presence(const uuid_bin *user, const char *payload)
{
    char u[UUID_STR_LEN + 1], topic[64];

    uuid_format(user, u);
    snprintf(topic, sizeof topic, "user/%s/presence", u);
    /* An empty retained payload clears what was retained. */
    mosquitto_broker_publish_copy(NULL, topic, (int)strlen(payload), payload,
                                  1, true, NULL);
}

static void announce(parley_ctx *ctx, const uuid_bin *user, bool online,
                     int64_t last_seen_ms)
{
    char text[96];

    if (user_flags_get(ctx->flags, user).presence_hidden)
        return;
    if (online)
        snprintf(text, sizeof text, "{\"state\":\"online\"}");
    else
        snprintf(text, sizeof text,
                 "{\"state\":\"offline\",\"last_seen\":%lld}",
                 (long long)last_seen_ms);
    publish_presence(user, text);
}

void presence_on_connect(parley_ctx *ctx, const uuid_bin *user)
{
    if (presence_connected(ctx->presence, user, parley_now_ms()))
        announce(ctx, user, true, 0);
}

void presence_on_disconnect(parley_ctx *ctx, const uuid_bin *user)
{
    presence_disconnected(ctx->presence, user, parley_now_ms());
}

static void went_offline(void *arg, const uuid_bin *user, int64_t last_seen_ms)
{
    parley_ctx *ctx = arg;
    char u[UUID_STR_LEN + 1];
    char *record;

    announce(ctx, user, false, last_seen_ms);
    uuid_format(user, u);
    if (asprintf(&record, "{\"user\":\"%s\",\"ts\":%lld}", u,
                 (long long)last_seen_ms) < 0)
        return;
    if (writer_enqueue(ctx->writer, WRITE_LAST_SEEN, record, strlen(record), 0,
                       true) != 0)
        free(record);
}

void presence_on_tick(parley_ctx *ctx, int64_t now_ms)
{
    presence_expire(ctx->presence, now_ms, went_offline, ctx);
}

void presence_on_flags(parley_ctx *ctx, const uuid_bin *user, bool was_hidden,
                       bool hidden)
{
    if (was_hidden == hidden || !presence_is_online(ctx->presence, user))
        return;
    if (hidden)
        publish_presence(user, "");
    else
        announce(ctx, user, true, 0);
}
