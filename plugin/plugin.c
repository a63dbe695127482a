/*
 * plugin.c - the Parley plugin's entry points for mosquitto 2.0 (plugin API
 * version 5): version, init, cleanup and callback registration.  Each
 * concern lives in its own file; see plugin_ctx.h for the map.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_ctx.h"

static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, parley_on_basic_auth},
    {MOSQ_EVT_ACL_CHECK, parley_on_acl_check},
    {MOSQ_EVT_MESSAGE, parley_on_message},
    {MOSQ_EVT_TICK, parley_on_tick},
    {MOSQ_EVT_DISCONNECT, parley_on_disconnect},
};

#define N_CALLBACKS (sizeof callbacks / sizeof callbacks[0])

/* Resends are recognised while their first copy is among the last this
 * many messages stamped. */

/* Typing notices forwarded per user and conversation: one every 2 s. */
#define TYPING_PER_S 0.5
/* Client ids, and filters over all of them, whose subscriptions the
 * ledger keeps at most (persistent sessions of devices that went away
 * included): about 40 MB at most; the least recently used go first. */
#define SUB_LEDGER_CLIENTS_MAX 250000
#define SUB_LEDGER_FILTERS_MAX 2000000

int64_t parley_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Loads "kid:ALG:/path.pem,kid2:ALG:/path2.pem" into the verifier. */
static int load_key_list(parley_ctx *ctx, const char *list)
{
    char *copy = strdup(list), *save = NULL, *entry;
    int rc = 0;

    if (copy == NULL)
        return -1;
    for (entry = strtok_r(copy, ",", &save); entry != NULL && rc == 0;
         entry = strtok_r(NULL, ",", &save)) {
        char *alg = strchr(entry, ':');
        char *path = alg ? strchr(alg + 1, ':') : NULL;
        token_alg a;
        const char *why = NULL;

        if (path == NULL) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: plugin_opt_jwt_keys entries are "
                                 "kid:ALG:/path/to/key.pem");
            rc = -1;
            break;
        }
        *alg++ = '\0';
        *path++ = '\0';
        if (token_alg_parse(alg, &a) != 0 || a == TOKEN_ALG_HS256) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: key %s: algorithm must be RS256 or "
                                 "ES256",
                                 entry);
            rc = -1;
        } else if (token_verifier_add_key_file(&ctx->verifier, entry, a, path,
                                               &why) != 0) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "parley: key %s (%s): %s",
                                 entry, path, why);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

static int setup_tokens(parley_ctx *ctx)
{
    const char *why = NULL;

    if (token_verifier_init(&ctx->verifier, ctx->opt.jwt_issuer,
                            ctx->opt.jwt_audience, ctx->opt.jwt_leeway) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: jwt_issuer and jwt_audience must be "
                             "1 to 128 characters");
        return -1;
    }
    if (ctx->opt.jwt_secret_file != NULL &&
        token_verifier_add_key_file(&ctx->verifier, "", TOKEN_ALG_HS256,
                                    ctx->opt.jwt_secret_file, &why) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: jwt_secret_file %s: %s",
                             ctx->opt.jwt_secret_file, why);
        return -1;
    }
    if (ctx->opt.jwt_keys != NULL && load_key_list(ctx, ctx->opt.jwt_keys) != 0)
        return -1;
    return 0;
}

/* A client whose message was spooled but not acked before the broker died
 * resends it: the resend is then stamped like the first copy. */
static void remember_stamp(parley_ctx *ctx, json_t *msg)
{
    const char *from = json_string_value(json_object_get(msg, "from"));
    const char *txn = json_string_value(json_object_get(msg, "txn"));
    const char *id = json_string_value(json_object_get(msg, "id"));
    json_t *ts = json_object_get(msg, "ts");
    uuid_bin sender;
    uint64_t parsed;

    if (from == NULL || txn == NULL || id == NULL || !json_is_integer(ts) ||
        uuid_parse_n(from, strlen(from), &sender) != 0 ||
        !payload_txn_valid(txn) || id_parse(id, &parsed) != 0)
        return;
    recent_txn_put(ctx->recent, &sender, txn, parsed,
                   (int64_t)json_integer_value(ts));
}

/* Queues one record left in the spool by an earlier run. */
static int replay_record(void *arg, uint32_t segment, const char *json,
                         size_t len)
{
    parley_ctx *ctx = arg;
    json_t *check = json_loadb(json, len, 0, NULL);
    char *copy;

    if (!json_is_object(check)) {
        json_decref(check);
        spool_release(ctx->spool, segment, 1);
        return 0; /* a torn record was never acknowledged */
    }
    /* Receipts carry up_to; messages carry id and txn. */
    writer_kind kind = json_object_get(check, "up_to") != NULL ? WRITE_RECEIPT
                                                               : WRITE_MESSAGE;
    if (kind == WRITE_MESSAGE)
        remember_stamp(ctx, check);
    json_decref(check);
    copy = strndup(json, len);
    if (copy == NULL ||
        writer_enqueue(ctx->writer, kind, copy, len, segment, true) != 0) {
        free(copy);
        return -1;
    }
    return 0;
}

static void release_context(parley_ctx *ctx)
{
    if (ctx == NULL)
        return;
    listener_stop(ctx->listener);
    writer_stop(ctx->writer);
    if (ctx->queue_ready) {
        /* Spool releases posted while stopping still count. */
        mainq_item *item = mainq_take_all(&ctx->queue), *next;
        for (; item != NULL; item = next) {
            next = item->next;
            if (item->kind == MAINQ_SPOOL_DONE && ctx->spool != NULL)
                spool_release(ctx->spool, item->segment, item->count);
            mainq_item_free(item);
        }
        mainq_destroy(&ctx->queue);
    }
    spool_close(ctx->spool);
    membership_cache_free(ctx->members);
    recent_txn_free(ctx->recent);
    user_flags_free(ctx->flags);
    presence_free(ctx->presence);
    limiter_free(ctx->message_limiter);
    limiter_free(ctx->typing_limiter);
    limiter_free(ctx->resubscribe_limiter);
    sub_ledger_free(ctx->subs);
    sessions_free_all(ctx);
    token_verifier_clear(&ctx->verifier);
    options_free(&ctx->opt);
    free(ctx);
}

int mosquitto_plugin_version(int supported_version_count,
                             const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5)
            return 5;
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *opts, int opt_count)
{
    parley_ctx *ctx = calloc(1, sizeof *ctx);
    size_t registered = 0;

    if (ctx == NULL)
        return MOSQ_ERR_NOMEM;
    ctx->id = identifier;
    if (options_parse(&ctx->opt, opts, opt_count) != 0)
        goto error;
    if (setup_tokens(ctx) != 0)
        goto error;
    ctx->limits.max_body_chars = (size_t)ctx->opt.max_body_chars;
    ctx->limits.max_payload_bytes = (size_t)ctx->opt.max_payload;
    id_minter_init(&ctx->ids, (uint32_t)ctx->opt.node_id);
    ctx->members = membership_cache_new();
    ctx->recent = recent_txn_new(RECENT_TXN_CAPACITY);
    ctx->flags = user_flags_new();
    ctx->presence = presence_new(ctx->opt.presence_grace_ms);
    ctx->message_limiter =
        limiter_new((double)ctx->opt.rate_per_s, (double)ctx->opt.rate_burst);
    ctx->typing_limiter = limiter_new(TYPING_PER_S, 1);
    ctx->subs = sub_ledger_new(SUB_LEDGER_CLIENTS_MAX, SUB_LEDGER_FILTERS_MAX);
    ctx->resubscribe_limiter =
        limiter_new((double)ctx->opt.resubscribe_per_min / 60.0,
                    (double)ctx->opt.resubscribe_burst);
    if (ctx->members == NULL || ctx->recent == NULL || ctx->flags == NULL ||
        ctx->presence == NULL || ctx->message_limiter == NULL ||
        ctx->typing_limiter == NULL || ctx->subs == NULL ||
        ctx->resubscribe_limiter == NULL || mainq_init(&ctx->queue) != 0)
        goto error;
    ctx->queue_ready = true;
    parley_db_init();
    ctx->spool = spool_open(ctx->opt.spool_dir, ctx->opt.spool_sync_ms);
    if (ctx->spool == NULL)
        goto error;
    ctx->writer = writer_start(ctx);
    if (ctx->writer == NULL)
        goto error;
    if (spool_replay(ctx->spool, replay_record, ctx) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot replay the spool");
        goto error;
    }
    ctx->listener = listener_start(ctx);
    if (ctx->listener == NULL)
        goto error;

    for (registered = 0; registered < N_CALLBACKS; registered++) {
        if (mosquitto_callback_register(identifier, callbacks[registered].event,
                                        callbacks[registered].cb, NULL,
                                        ctx) != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: cannot register callback %d",
                                 callbacks[registered].event);
            goto error;
        }
    }
    *userdata = ctx;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: plugin ready (node %ld)",
                         ctx->opt.node_id);
    return MOSQ_ERR_SUCCESS;

error:
    while (registered-- > 0)
        mosquitto_callback_unregister(identifier, callbacks[registered].event,
                                      callbacks[registered].cb, NULL);
    release_context(ctx);
    return MOSQ_ERR_UNKNOWN;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts,
                             int opt_count)
{
    parley_ctx *ctx = userdata;

    (void)opts;
    (void)opt_count;
    if (ctx == NULL)
        return MOSQ_ERR_SUCCESS;
    for (size_t i = 0; i < N_CALLBACKS; i++)
        mosquitto_callback_unregister(ctx->id, callbacks[i].event,
                                      callbacks[i].cb, NULL);
    release_context(ctx);
    return MOSQ_ERR_SUCCESS;
}
