/*
 * acl.c - MOSQ_EVT_ACL_CHECK: every publish, subscription and delivery is
 * decided by topic_acl.c against the membership cache, for the user that
 * auth recorded for this connection.  A client without a session (which
 * auth never let in, or one already gone, as when the broker sends a will
 * after a disconnect) publishes nothing; an offline persistent session
 * still collects what its user may read.  A refused publish is answered on
 * the publisher's inbox.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "plugin_ctx.h"
#include "topic_acl.h"

/* Tells the publisher why its publish was refused (on its inbox), with the
 * txn when the payload carries a readable one, so that a client whose
 * outbox holds the message can give up on it instead of resending. */
static void notify_write_refused(parley_ctx *ctx, const client_session *s,
                                 const struct mosquitto_evt_acl_check *ed)
{
    char txn[PAYLOAD_TXN_MAX + 1] = "";

    if (ed->payload != NULL && ed->payloadlen > 0 &&
        ed->payloadlen <= (uint32_t)ctx->opt.max_payload) {
        json_t *obj = json_loadb(ed->payload, ed->payloadlen, 0, NULL);
        const char *t = json_string_value(json_object_get(obj, "txn"));
        if (t != NULL && payload_txn_valid(t))
            snprintf(txn, sizeof txn, "%s", t);
        json_decref(obj);
    }
    if (ed->retain)
        notify_error(session_user_str(s), txn, "retain_not_allowed",
                     "the retain flag is not allowed");
    else
        notify_error(session_user_str(s), txn, "forbidden",
                     "you may not publish on this topic");
}

/* A subscription the ACL allows: true unless the client already holds the
 * filter and its user has used up the budget for subscribing again.
 * Debian's mosquitto 2.0.11 leaks a small block on every such repeat
 * (docs/SECURITY.md), so without a budget one connection could grow the
 * broker without bound.  A refused repeat leaves the subscription held as
 * it was; the client only reads "not authorized" for it in the SUBACK. */
static bool may_subscribe_again(parley_ctx *ctx, const struct mosquitto *client,
                                const client_session *s, const char *filter)
{
    int64_t now = parley_now_ms();

    if (sub_ledger_subscribe(ctx->subs, session_client_id(s),
                             mosquitto_client_sub_count(client), filter,
                             now) == SUB_LEDGER_NEW)
        return true;
    if (limiter_take(ctx->resubscribe_limiter, session_user(s),
                     sizeof(uuid_bin), now))
        return true;
    if (now - ctx->last_resubscribe_log_ms >= 1000) {
        ctx->last_resubscribe_log_ms = now;
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "parley: %s subscribes again to filters it "
                             "holds faster than its budget; refusing",
                             session_client_id(s));
    }
    return false;
}

static bool read_for_offline_session(parley_ctx *ctx,
                                     const struct mosquitto *client,
                                     const char *topic)
{
    const char *username = mosquitto_client_username(client);
    acl_subject who = {.is_admin = false};
    topic_ref ref;

    if (username == NULL ||
        uuid_parse_n(username, strnlen(username, UUID_STR_LEN + 1),
                     &who.user) != 0)
        return false;
    topic_parse_memo(&ctx->topic_memo, topic, &ref);
    return acl_may_read_ref(&who, &ref, ctx->members) == ACL_ALLOW;
}

int parley_on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    parley_ctx *ctx = userdata;
    const client_session *s = sessions_get(ctx, ed->client);
    acl_subject who;
    acl_verdict v = ACL_DENY;
    topic_ref ref;

    (void)event;
    if (s == NULL) {
        /* A persistent session whose device is offline still collects
         * what its user may read: its username is the user id that auth
         * checked against the token, and only that user can resume it. */
        if (ed->access == MOSQ_ACL_READ &&
            read_for_offline_session(ctx, ed->client, ed->topic))
            return MOSQ_ERR_SUCCESS;
        return MOSQ_ERR_ACL_DENIED;
    }
    /* A connection being taken over or kicked publishes nothing more: this
     * is what stops the will the broker sends on its behalf. */
    if (session_is_closing(s) && ed->access == MOSQ_ACL_WRITE)
        return MOSQ_ERR_ACL_DENIED;
    who.user = *session_user(s);
    who.is_admin = session_is_admin(s);
    switch (ed->access) {
    case MOSQ_ACL_SUBSCRIBE:
        v = acl_may_subscribe(&who, ed->topic, ctx->members);
        if (ctx->kicking) {
            /* The broker re-checking a persistent session's filters as we
             * kick it: membership alone decides, nothing is charged, and
             * what is refused the broker drops. */
            if (v != ACL_ALLOW)
                sub_ledger_unsubscribe(ctx->subs, session_client_id(s),
                                       ed->topic, parley_now_ms());
        } else if (v == ACL_ALLOW &&
                   !may_subscribe_again(ctx, ed->client, s, ed->topic)) {
            v = ACL_DENY;
        }
        break;
    case MOSQ_ACL_UNSUBSCRIBE:
        sub_ledger_unsubscribe(ctx->subs, session_client_id(s), ed->topic,
                               parley_now_ms());
        v = ACL_ALLOW;
        break;
    case MOSQ_ACL_WRITE:
        /* The message callback and the delivery checks that follow find
         * this topic in the memo instead of parsing it again. */
        topic_parse_memo(&ctx->topic_memo, ed->topic, &ref);
        v = acl_may_publish_ref(&who, &ref, ed->retain, ctx->members);
        if (v == ACL_DENY)
            notify_write_refused(ctx, s, ed);
        break;
    case MOSQ_ACL_READ:
        topic_parse_memo(&ctx->topic_memo, ed->topic, &ref);
        v = acl_may_read_ref(&who, &ref, ctx->members);
        break;
    default:
        v = ACL_DENY;
    }
    return v == ACL_ALLOW ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}
