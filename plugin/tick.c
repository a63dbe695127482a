/*
 * tick.c - MOSQ_EVT_TICK: the main thread takes what the plugin's threads
 * queued (acks and notices to publish, membership changes, spool releases)
 * and applies it, since the broker's API may be called only here.  Once a
 * second it also disconnects clients whose token has expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"

static void publish(const char *topic, const char *payload, size_t len,
                    int qos)
{
    int rc = mosquitto_broker_publish_copy(NULL, topic, (int)len, payload, qos,
                                           false, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot publish on %s (error %d)", topic,
                             rc);
}

/* Publishes a membership event to the conversation and to the member's own
 * inbox (a removed member no longer reads conv/{c}/event). */
static void publish_member_event(const mainq_item *item)
{
    char conv[UUID_STR_LEN + 1], user[UUID_STR_LEN + 1], topic[64];

    if (item->payload == NULL)
        return;
    uuid_format(&item->conv, conv);
    uuid_format(&item->user, user);
    snprintf(topic, sizeof topic, "conv/%s/event", conv);
    publish(topic, item->payload, item->payload_len, 1);
    snprintf(topic, sizeof topic, "user/%s/inbox", user);
    publish(topic, item->payload, item->payload_len, 1);
}

static void apply(parley_ctx *ctx, mainq_item *item)
{
    switch (item->kind) {
    case MAINQ_PUBLISH:
        publish(item->topic, item->payload, item->payload_len, item->qos);
        break;
    case MAINQ_MEMBERS_SNAPSHOT:
        membership_cache_free(ctx->members);
        ctx->members = item->snapshot;
        item->snapshot = NULL;
        break;
    case MAINQ_MEMBER_SET:
        if (membership_cache_set(ctx->members, &item->conv, &item->user,
                                 item->role) != 0)
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: out of memory adding a member");
        publish_member_event(item);
        break;
    case MAINQ_MEMBER_REMOVE:
        membership_cache_remove(ctx->members, &item->conv, &item->user);
        publish_member_event(item);
        break;
    case MAINQ_SPOOL_DONE:
        spool_release(ctx->spool, item->segment, item->count);
        break;
    }
}

int parley_on_tick(int event, void *event_data, void *userdata)
{
    parley_ctx *ctx = userdata;
    mainq_item *item, *next;
    int64_t now_s;

    (void)event;
    (void)event_data;
    for (item = mainq_take_all(&ctx->queue); item != NULL; item = next) {
        next = item->next;
        apply(ctx, item);
        mainq_item_free(item);
    }
    now_s = parley_now_ms() / 1000;
    if (now_s != ctx->last_expiry_scan_s) {
        ctx->last_expiry_scan_s = now_s;
        sessions_kick_expired(ctx, now_s);
    }
    return MOSQ_ERR_SUCCESS;
}
