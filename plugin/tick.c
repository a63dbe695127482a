/*
 * tick.c - MOSQ_EVT_TICK: the main thread takes what the plugin's threads
 * queued (acks and notices to publish, membership changes, spool releases)
 * and applies it, since the broker's API may be called only here.  It also
 * runs the periodic work: disconnecting clients whose token expired,
 * announcing users offline once their grace ran out, pruning idle rate
 * buckets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"

/* How often offline announcements and idle rate buckets are looked at. */
#define PRESENCE_SCAN_MS 250
#define PRUNE_MS 60000
/* The subscription record of a client id that neither subscribed nor
 * unsubscribed for this long is dropped: its session is most likely gone
 * (an MQTT 5 session's expiry is not reported to plugins).  If it was not,
 * its next repeat of each filter counts as new, once a day at most. */
#define SUB_LEDGER_IDLE_MS (24 * 3600 * 1000LL)

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
    case MAINQ_RECENT_SEED:
        /* Oldest first, so the newest are the last to be evicted; a stamp
         * already held (from the spool's replay) keeps its first value. */
        for (size_t i = 0; i < item->n_stamps; i++) {
            const recent_stamp *st = &item->stamps[i];
            recent_txn_put(ctx->recent, &st->sender, st->txn, st->id,
                           st->ts_ms);
        }
        break;
    case MAINQ_MEMBERS_SNAPSHOT:
        membership_cache_free(ctx->members);
        ctx->members = item->snapshot;
        item->snapshot = NULL;
        user_flags_free(ctx->flags);
        ctx->flags = item->flags_snapshot;
        item->flags_snapshot = NULL;
        ctx->members_loaded = true;
        break;
    case MAINQ_USER_FLAGS: {
        bool was_hidden = user_flags_get(ctx->flags, &item->user).presence_hidden;
        if (user_flags_set(ctx->flags, &item->user, &item->flags) != 0)
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: out of memory updating a user");
        presence_on_flags(ctx, &item->user, was_hidden,
                          item->flags.presence_hidden);
        if (item->kick) {
            char user[UUID_STR_LEN + 1];
            uuid_format(&item->user, user);
            /* Their tokens no longer connect; every device is dropped. */
            sessions_kick(ctx, NULL, user);
        }
        break;
    }
    case MAINQ_MEMBER_SET:
        if (membership_cache_set(ctx->members, &item->conv, &item->user,
                                 item->role) != 0 ||
            (item->announce_known &&
             membership_cache_set_announce_only(ctx->members, &item->conv,
                                                item->announce_only) != 0))
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
    int64_t now_ms, now_s;

    (void)event;
    (void)event_data;
    for (item = mainq_take_all(&ctx->queue); item != NULL; item = next) {
        next = item->next;
        apply(ctx, item);
        mainq_item_free(item);
    }
    now_ms = parley_now_ms();
    now_s = now_ms / 1000;
    if (now_s != ctx->last_expiry_scan_s) {
        ctx->last_expiry_scan_s = now_s;
        sessions_kick_expired(ctx, now_s);
    }
    if (now_ms - ctx->last_presence_scan_ms >= PRESENCE_SCAN_MS) {
        ctx->last_presence_scan_ms = now_ms;
        presence_on_tick(ctx, now_ms);
    }
    if (now_ms - ctx->last_prune_ms >= PRUNE_MS) {
        ctx->last_prune_ms = now_ms;
        limiter_prune(ctx->message_limiter, now_ms);
        limiter_prune(ctx->typing_limiter, now_ms);
        limiter_prune(ctx->resubscribe_limiter, now_ms);
        sub_ledger_prune(ctx->subs, now_ms, SUB_LEDGER_IDLE_MS);
    }
    return MOSQ_ERR_SUCCESS;
}
