/*
 * writer.c - the thread that stores accepted messages in PostgreSQL.
 *
 * The main thread appends rewritten messages to a bounded queue and wakes the
 * writer only when the queue goes from empty to non-empty, so a burst costs
 * one wake-up.  The writer takes up to batch_max messages at a time and
 * stores them with one statement (the batch travels as one JSON array;
 * ON CONFLICT (sender_id, txn) DO NOTHING makes resends and replays
 * idempotent), then hands acks and spool releases to the main thread.
 *
 * Failures: a lost connection or an overloaded server is retried with
 * backoff, the batch kept (the queue meanwhile fills and new publishes are
 * refused); a batch that the database refuses for its content is stored row
 * by row, and a row that still fails is reported to its sender.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_ctx.h"

#define STORE_STATEMENT "parley_store_batch"
#define STOP_DEADLINE_MS 10000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

/* Input: $1 is a JSON array of rewritten messages.  Output, one row per
 * input element in order: sender, conv, txn and the id stored for that
 * (sender, txn), which for a resend is the id of the first copy. */
static const char store_sql[] =
    "WITH input AS ("
    "  SELECT e.ord, (e.m->>'id')::bigint AS id, (e.m->>'conv')::uuid AS conv_id,"
    "         (e.m->>'from')::uuid AS sender_id, e.m->>'txn' AS txn,"
    "         e.m->>'type' AS type, e.m->>'body' AS body,"
    "         e.m - '{id,conv,from,ts,txn,type,body}'::text[] AS extra,"
    "         timestamptz 'epoch' + (e.m->>'ts')::bigint * interval '1 millisecond' AS ts"
    "  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(m, ord)"
    "), ins AS ("
    "  INSERT INTO messages (id, conv_id, sender_id, txn, type, body, extra, ts)"
    "  SELECT id, conv_id, sender_id, txn, type, body, extra, ts FROM input ORDER BY ord"
    "  ON CONFLICT (sender_id, txn) DO NOTHING"
    "  RETURNING sender_id, txn, id"
    ")"
    " SELECT i.sender_id::text, i.conv_id::text, i.txn,"
    "        COALESCE(ins.id, m.id, i.id)::text"
    " FROM input i"
    " LEFT JOIN ins ON ins.sender_id = i.sender_id AND ins.txn = i.txn"
    " LEFT JOIN messages m ON m.sender_id = i.sender_id AND m.txn = i.txn"
    " ORDER BY i.ord";

typedef struct writer_item {
    char *json;
    size_t len;
    uint32_t segment;
    struct writer_item *next;
} writer_item;

struct writer {
    parley_ctx *ctx;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    writer_item *head, *tail;
    size_t count;
    bool stopping;
    int64_t stop_deadline_ms;
    PGconn *conn;
    bool prepared;
};

/* One stored message, for building acks. */
typedef struct stored_row {
    char sender[UUID_STR_LEN + 1];
    char conv[UUID_STR_LEN + 1];
    char txn[PAYLOAD_TXN_MAX + 1];
    char id[PARLEY_ID_STR_MAX + 1];
} stored_row;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool give_up(writer *w)
{
    bool stop;

    pthread_mutex_lock(&w->lock);
    stop = w->stopping && parley_now_ms() >= w->stop_deadline_ms;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

static void drop_connection(writer *w)
{
    if (w->conn != NULL)
        PQfinish(w->conn);
    w->conn = NULL;
    w->prepared = false;
}

/* Makes sure there is a usable connection with the statement prepared.
 * Returns 0, or -1 (logged) to retry later. */
static int ensure_connection(writer *w)
{
    PGresult *res;

    if (w->conn != NULL && PQstatus(w->conn) != CONNECTION_OK)
        drop_connection(w);
    if (w->conn == NULL) {
        w->conn = PQconnectdb(w->ctx->opt.database_url);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: writer cannot connect: %s",
                                 PQerrorMessage(w->conn));
            drop_connection(w);
            return -1;
        }
    }
    if (!w->prepared) {
        res = PQprepare(w->conn, STORE_STATEMENT, store_sql, 1, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: writer cannot prepare: %s",
                                 PQerrorMessage(w->conn));
            PQclear(res);
            drop_connection(w);
            return -1;
        }
        PQclear(res);
        w->prepared = true;
    }
    return 0;
}

/* True if a failed statement may succeed when retried: connection trouble,
 * a server shutting down or out of resources, a serialization failure. */
static bool is_transient(writer *w, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK || state == NULL)
        return true;
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0 ||
           strncmp(state, "58", 2) == 0 || strncmp(state, "XX", 2) == 0;
}

static char *join_batch(writer_item *items, size_t n, size_t *len_out)
{
    size_t len = 2 + n;
    char *buf, *p;

    for (writer_item *it = items; it != NULL; it = it->next)
        len += it->len;
    buf = malloc(len + 1);
    if (buf == NULL)
        return NULL;
    p = buf;
    *p++ = '[';
    for (writer_item *it = items; it != NULL; it = it->next) {
        if (it != items)
            *p++ = ',';
        memcpy(p, it->json, it->len);
        p += it->len;
    }
    *p++ = ']';
    *p = '\0';
    *len_out = (size_t)(p - buf);
    return buf;
}

typedef enum store_result {
    STORE_OK,
    STORE_RETRY,    /* transient: try the same batch again */
    STORE_REJECTED, /* the database refused the content */
} store_result;

static store_result run_store(writer *w, writer_item *items, size_t n,
                              stored_row *rows, char *errbuf, size_t errsize)
{
    size_t len;
    char *param = join_batch(items, n, &len);
    const char *values[1] = {param};
    PGresult *res;
    store_result out;

    if (param == NULL)
        return STORE_RETRY;
    res = PQexecPrepared(w->conn, STORE_STATEMENT, 1, values, NULL, NULL, 0);
    free(param);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && (size_t)PQntuples(res) == n) {
        for (size_t i = 0; i < n; i++) {
            snprintf(rows[i].sender, sizeof rows[i].sender, "%s",
                     PQgetvalue(res, (int)i, 0));
            snprintf(rows[i].conv, sizeof rows[i].conv, "%s",
                     PQgetvalue(res, (int)i, 1));
            snprintf(rows[i].txn, sizeof rows[i].txn, "%s",
                     PQgetvalue(res, (int)i, 2));
            snprintf(rows[i].id, sizeof rows[i].id, "%s",
                     PQgetvalue(res, (int)i, 3));
        }
        PQclear(res);
        return STORE_OK;
    }
    snprintf(errbuf, errsize, "%s", PQerrorMessage(w->conn));
    out = is_transient(w, res) ? STORE_RETRY : STORE_REJECTED;
    PQclear(res);
    if (out == STORE_RETRY && PQstatus(w->conn) != CONNECTION_OK)
        drop_connection(w);
    return out;
}

static int compare_rows_by_sender(const void *a, const void *b)
{
    return strcmp(((const stored_row *)a)->sender,
                  ((const stored_row *)b)->sender);
}

/* Posts one ack per sender: a single ack, or {"type":"ack","items":[...]}. */
static void post_acks(writer *w, stored_row *rows, size_t n)
{
    char topic[64];

    qsort(rows, n, sizeof *rows, compare_rows_by_sender);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        json_t *msg;
        char *text;

        while (j < n && strcmp(rows[j].sender, rows[i].sender) == 0)
            j++;
        if (j - i == 1) {
            msg = json_pack("{s:s,s:s,s:s,s:s}", "type", "ack", "conv",
                            rows[i].conv, "txn", rows[i].txn, "id", rows[i].id);
        } else {
            json_t *items = json_array();
            for (size_t k = i; k < j; k++)
                json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "conv",
                                                       rows[k].conv, "txn",
                                                       rows[k].txn, "id",
                                                       rows[k].id));
            msg = json_pack("{s:s,s:o}", "type", "ack", "items", items);
        }
        text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        if (text != NULL) {
            snprintf(topic, sizeof topic, "user/%s/inbox", rows[i].sender);
            mainq_post_publish(&w->ctx->queue, topic, text, strlen(text));
        }
        free(text);
        json_decref(msg);
        i = j;
    }
}

static void post_spool_release(writer *w, writer_item *items)
{
    /* Items arrive in spool order, so runs of one segment are contiguous. */
    for (writer_item *it = items; it != NULL;) {
        uint32_t segment = it->segment, count = 0;
        while (it != NULL && it->segment == segment) {
            count++;
            it = it->next;
        }
        mainq_item *q = calloc(1, sizeof *q);
        if (q == NULL)
            continue;
        q->kind = MAINQ_SPOOL_DONE;
        q->segment = segment;
        q->count = count;
        mainq_post(&w->ctx->queue, q);
    }
}

/* Tells the sender that a message could not be stored at all. */
static void post_not_stored(writer *w, const writer_item *it,
                            const char *why)
{
    json_t *msg = json_loadb(it->json, it->len, 0, NULL);
    const char *from = json_string_value(json_object_get(msg, "from"));
    const char *txn = json_string_value(json_object_get(msg, "txn"));

    mosquitto_log_printf(MOSQ_LOG_ERR, "parley: message not stored: %s", why);
    if (from != NULL && uuid_valid(from)) {
        char topic[64];
        json_t *err = json_pack("{s:s,s:s,s:s}", "type", "error", "code",
                                "not_stored", "detail",
                                "the message could not be stored");
        char *text;
        if (err != NULL && txn != NULL)
            json_object_set_new(err, "txn", json_string(txn));
        text = err ? json_dumps(err, JSON_COMPACT) : NULL;
        snprintf(topic, sizeof topic, "user/%s/inbox", from);
        if (text != NULL)
            mainq_post_publish(&w->ctx->queue, topic, text, strlen(text));
        free(text);
        json_decref(err);
    }
    json_decref(msg);
}

/* Stores a batch, retrying transient failures until it is stored or the
 * writer is told to stop and its deadline passes.  Returns true if every
 * item is settled (stored, or refused and reported). */
static bool store_batch(writer *w, writer_item *items, size_t n)
{
    stored_row *rows = calloc(n, sizeof *rows);
    char err[512];
    long backoff = BACKOFF_MIN_MS;
    size_t stored = 0;

    if (rows == NULL)
        return false;
    for (;;) {
        store_result r = STORE_RETRY;
        if (ensure_connection(w) == 0)
            r = run_store(w, items, n, rows, err, sizeof err);
        if (r == STORE_OK) {
            stored = n;
            break;
        }
        if (r == STORE_REJECTED) {
            /* Find the offending rows: store one at a time. */
            stored = 0;
            for (writer_item *it = items; it != NULL; it = it->next) {
                writer_item single = *it;
                single.next = NULL;
                for (;;) {
                    store_result r1 = STORE_RETRY;
                    if (ensure_connection(w) == 0)
                        r1 = run_store(w, &single, 1, &rows[stored], err,
                                       sizeof err);
                    if (r1 == STORE_OK) {
                        stored++;
                        break;
                    }
                    if (r1 == STORE_REJECTED) {
                        post_not_stored(w, it, err);
                        break;
                    }
                    if (give_up(w)) {
                        free(rows);
                        return false;
                    }
                    sleep_ms(backoff);
                }
            }
            break;
        }
        if (give_up(w)) {
            free(rows);
            return false;
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    post_acks(w, rows, stored);
    post_spool_release(w, items);
    free(rows);
    return true;
}

static void free_items(writer_item *items)
{
    writer_item *next;

    for (; items != NULL; items = next) {
        next = items->next;
        free(items->json);
        free(items);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    size_t batch_max = (size_t)w->ctx->opt.batch_max;

    for (;;) {
        writer_item *batch, *last;
        size_t n = 0;

        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->head == NULL) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        batch = last = w->head;
        n = 1;
        while (n < batch_max && last->next != NULL) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (w->head == NULL)
            w->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);

        bool settled = store_batch(w, batch, n);

        pthread_mutex_lock(&w->lock);
        w->count -= n;
        pthread_mutex_unlock(&w->lock);
        free_items(batch);
        if (!settled) {
            /* Stopping with the database out of reach: what is left stays
             * in the spool and is stored by the next start. */
            break;
        }
    }
    drop_connection(w);
    return NULL;
}

writer *writer_start(parley_ctx *ctx)
{
    writer *w = calloc(1, sizeof *w);
    sigset_t all, old;

    if (w == NULL)
        return NULL;
    w->ctx = ctx;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cond, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    /* The broker's signals belong to its main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    w->thread_started = pthread_create(&w->thread, NULL, writer_main, w) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!w->thread_started) {
        writer_stop(w);
        return NULL;
    }
    return w;
}

int writer_enqueue(writer *w, char *json, size_t len, uint32_t segment,
                   bool force)
{
    writer_item *it;
    bool was_empty;

    pthread_mutex_lock(&w->lock);
    if (!force && w->count >= (size_t)w->ctx->opt.queue_max) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    pthread_mutex_unlock(&w->lock);

    it = malloc(sizeof *it);
    if (it == NULL)
        return -1;
    it->json = json;
    it->len = len;
    it->segment = segment;
    it->next = NULL;

    pthread_mutex_lock(&w->lock);
    was_empty = w->head == NULL;
    if (w->tail != NULL)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    if (was_empty)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

size_t writer_backlog(writer *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void writer_stop(writer *w)
{
    if (w == NULL)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        w->stop_deadline_ms = parley_now_ms() + STOP_DEADLINE_MS;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    free_items(w->head);
    drop_connection(w);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
