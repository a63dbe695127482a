/*
 * message.c - MOSQ_EVT_MESSAGE: the pipeline every client publish runs
 * through on the broker's main thread, after the ACL allowed it.
 *
 * conv/{c}/m: validate, apply the sender's rate limit, rewrite with the
 * server's id, from and ts, append to the spool, queue for the writer, and
 * let the broker deliver the rewrite.  conv/{c}/typing: rewrite with from,
 * at most one per user and conversation every 2 s, never stored.
 * conv/{c}/receipt: rewrite with from and ts, spool and store; the writer
 * fans out only pointers that moved forward.  A refused
 * publish returns MOSQ_ERR_ACL_DENIED (an MQTT v5 client sees "not
 * authorized" in its PUBACK) and the sender gets an error on its inbox.
 * Nothing here blocks: the spool write is a plain write(2) to a local file.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"
#include "recent_txn.h"
#include "topic_acl.h"

/* Where consumed publishes go: no client may subscribe to it. */
#define CONSUMED_TOPIC "$parley/consumed"

void notify_error(const char *user, const char *txn, const char *code,
                  const char *detail)
{
    char topic[64];
    json_t *msg = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
                            "detail", detail);
    char *text;

    if (msg != NULL && txn != NULL && txn[0] != '\0')
        json_object_set_new(msg, "txn", json_string(txn));
    text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

    if (text != NULL) {
        snprintf(topic, sizeof topic, "user/%s/inbox", user);
        mosquitto_broker_publish_copy(NULL, topic, (int)strlen(text), text, 1,
                                      false, NULL);
    }
    free(text);
    json_decref(msg);
}

/* Replaces the broker's copy of the payload with ours.  The broker frees
 * the old one when it sees the pointer changed.  On failure the original
 * stays and the publish must be refused. */
static int replace_payload(struct mosquitto_evt_message *ed, const char *json,
                           size_t len)
{
    void *copy = mosquitto_malloc(len);

    if (copy == NULL)
        return -1;
    memcpy(copy, json, len);
    ed->payload = copy;
    ed->payloadlen = (uint32_t)len;
    return 0;
}

static int handle_chat_message(parley_ctx *ctx, const client_session *s,
                               struct mosquitto_evt_message *ed,
                               const topic_ref *ref)
{
    char conv[UUID_STR_LEN + 1];
    const char *user = session_user_str(s);
    const uuid_bin *sender = session_user(s);
    payload_message msg; /* points into ed->payload; nothing to free */
    payload_stamp stamp;
    payload_rewrite_result out;
    payload_error err;
    uint32_t segment;
    int64_t now = parley_now_ms();

    if (payload_parse(ed->payload, ed->payloadlen, &ctx->limits, &msg,
                      &err) != 0) {
        notify_error(user, err.txn, err.code, err.detail);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (!limiter_take(ctx->message_limiter, sender, sizeof(uuid_bin), now)) {
        notify_error(user, msg.txn, "rate_limited",
                     "too many messages; slow down and send again");
        return MOSQ_ERR_ACL_DENIED;
    }
    if (writer_backlog(ctx->writer) >= (size_t)ctx->opt.queue_max) {
        /* Nothing is accepted that cannot be kept: the client retries. */
        notify_error(user, msg.txn, "busy",
                     "the server is storing a backlog; send again later");
        return MOSQ_ERR_ACL_DENIED;
    }

    /* A resend keeps the stamp of the first copy. */
    uuid_format(&ref->id, conv);
    stamp.conv = conv;
    stamp.from = user;
    if (!recent_txn_get(ctx->recent, sender, msg.txn, &stamp.id,
                        &stamp.ts_ms)) {
        stamp.ts_ms = now;
        stamp.id = id_minter_next(&ctx->ids, (uint64_t)now);
    }
    if (payload_render(&msg, &stamp, &out) != 0) {
        notify_error(user, msg.txn, "internal", "out of memory");
        return MOSQ_ERR_ACL_DENIED;
    }

    segment = spool_append(ctx->spool, out.json, out.len);
    if (segment == 0) {
        notify_error(user, out.txn, "busy",
                     "the server cannot keep messages right now");
        free(out.json);
        return MOSQ_ERR_ACL_DENIED;
    }
    recent_txn_put(ctx->recent, sender, out.txn, stamp.id, stamp.ts_ms);
    /* The broker gets its own copy (mosquitto_malloc'd, as it frees it);
     * the writer keeps the rendered one. */
    if (replace_payload(ed, out.json, out.len) != 0) {
        /* Spooled but refused: the record is stored on replay and acked
         * then; the client's resend is deduplicated. */
        free(out.json);
        return MOSQ_ERR_ACL_DENIED;
    }
    ed->retain = false;
    /* The queue has room (checked above, and only this thread adds). */
    if (writer_enqueue(ctx->writer, WRITE_MESSAGE, out.json, out.len, segment,
                       true) != 0)
        free(out.json);
    return MOSQ_ERR_SUCCESS;
}

/* Accepts a publish without delivering it: the broker acknowledges it as
 * usual, but it goes to a topic nobody can subscribe to.  Used for what the
 * plugin delivers itself (receipts, once stored) or drops quietly (typing
 * notices over the limit). */
static int consume(struct mosquitto_evt_message *ed)
{
    char *topic = mosquitto_strdup(CONSUMED_TOPIC);

    if (topic == NULL)
        return MOSQ_ERR_ACL_DENIED;
    mosquitto_free(ed->topic);
    ed->topic = topic;
    ed->retain = false;
    return MOSQ_ERR_SUCCESS;
}

static int handle_typing(parley_ctx *ctx, const client_session *s,
                         struct mosquitto_evt_message *ed,
                         const topic_ref *ref)
{
    char *json;
    size_t len;
    payload_error err;
    uuid_bin key[2] = {*session_user(s), ref->id};
    int rc;

    if (payload_rewrite_typing(ed->payload, ed->payloadlen,
                               session_user_str(s), &json, &len, &err) != 0)
        return MOSQ_ERR_ACL_DENIED;
    if (!limiter_take(ctx->typing_limiter, key, sizeof key, parley_now_ms())) {
        free(json);
        return consume(ed);
    }
    rc = replace_payload(ed, json, len) == 0 ? MOSQ_ERR_SUCCESS
                                             : MOSQ_ERR_ACL_DENIED;
    ed->retain = false;
    free(json);
    return rc;
}

/* A receipt is stored first; the writer fans it out only if it moved the
 * user's pointer forward. */
static int handle_receipt(parley_ctx *ctx, const client_session *s,
                          struct mosquitto_evt_message *ed,
                          const topic_ref *ref)
{
    char conv[UUID_STR_LEN + 1];
    char *json;
    size_t len;
    payload_error err;
    uint32_t segment;

    uuid_format(&ref->id, conv);
    if (payload_rewrite_receipt(ed->payload, ed->payloadlen, conv,
                                session_user_str(s), parley_now_ms(), &json,
                                &len, &err) != 0) {
        notify_error(session_user_str(s), NULL, err.code, err.detail);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (writer_backlog(ctx->writer) >= (size_t)ctx->opt.queue_max ||
        (segment = spool_append(ctx->spool, json, len)) == 0) {
        notify_error(session_user_str(s), NULL, "busy",
                     "the server is storing a backlog; send again later");
        free(json);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (writer_enqueue(ctx->writer, WRITE_RECEIPT, json, len, segment, true) !=
        0)
        free(json);
    return consume(ed);
}

int parley_on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    parley_ctx *ctx = userdata;
    const client_session *s = sessions_get(ctx, ed->client);
    topic_ref ref;

    (void)event;
    if (s == NULL)
        return MOSQ_ERR_ACL_DENIED;
    /* MQTT v5 properties (user properties, content type, response topic,
     * correlation data) are the sender's words, not the server's: none is
     * passed on, so none can pose as server data. */
    if (ed->properties != NULL)
        mosquitto_property_free_all(&ed->properties);
    /* Parsed once per message: the ACL check just read this topic. */
    switch (topic_parse_memo(&ctx->topic_memo, ed->topic, &ref)) {
    case TOPIC_CONV_MESSAGES:
        return handle_chat_message(ctx, s, ed, &ref);
    case TOPIC_CONV_TYPING:
        return handle_typing(ctx, s, ed, &ref);
    case TOPIC_CONV_RECEIPT:
        return handle_receipt(ctx, s, ed, &ref);
    default:
        /* The ACL admits nothing else from clients. */
        notify_error(session_user_str(s), NULL, "forbidden",
                     "publishing on this topic is not allowed");
        return MOSQ_ERR_ACL_DENIED;
    }
}
