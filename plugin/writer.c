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
 * refused); a statement that gets no answer for STATEMENT_TIMEOUT_MS is
 * abandoned with its connection and retried on a new one; a batch that the
 * database refuses for its content is stored row by row, and a row that
 * still fails is reported to its sender.  The writer never waits on the
 * database for more than a quarter second without checking whether it is
 * being stopped.
 */
#include <jansson.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_ctx.h"

#define STORE_STATEMENT "parley_store_batch"
#define RECEIPT_STATEMENT "parley_store_receipts"
#define LAST_SEEN_STATEMENT "parley_store_last_seen"
#define STOP_DEADLINE_MS 10000
#define BACKOFF_MIN_MS 50
/* A statement without an answer for this long is abandoned and the
 * connection replaced: storing is idempotent, so the retry is safe. */
#define STATEMENT_TIMEOUT_MS 15000
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
    "), seq AS ("
    "  SELECT parley_reserve_seq(count(*)::int) AS last, count(*) AS n FROM input"
    "), ins AS ("
    "  INSERT INTO messages (id, conv_id, sender_id, txn, type, body, extra, ts, seq)"
    "  SELECT id, conv_id, sender_id, txn, type, body, extra, ts, seq.last - seq.n + ord"
    "  FROM input, seq ORDER BY ord"
    "  ON CONFLICT (sender_id, txn) DO NOTHING"
    "  RETURNING sender_id, txn, id"
    ")"
    " SELECT i.sender_id::text, i.conv_id::text, i.txn,"
    "        COALESCE(ins.id, m.id, i.id)::text"
    " FROM input i"
    " LEFT JOIN ins ON ins.sender_id = i.sender_id AND ins.txn = i.txn"
    " LEFT JOIN messages m ON m.sender_id = i.sender_id AND m.txn = i.txn"
    " ORDER BY i.ord";

/* Input: $1 is a JSON array of rewritten receipts.  The newest pointer per
 * (conv, user, kind) in the batch is stored if it moves forward; the rows
 * returned (by input position) are the receipts to fan out. */
static const char receipt_sql[] =
    "WITH input AS ("
    "  SELECT e.ord, (e.r->>'conv')::uuid AS conv_id, (e.r->>'from')::uuid AS user_id,"
    "         e.r->>'type' AS kind, (e.r->>'up_to')::bigint AS up_to,"
    "         timestamptz 'epoch' + (e.r->>'ts')::bigint * interval '1 millisecond' AS ts"
    "  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(r, ord)"
    "), best AS ("
    "  SELECT DISTINCT ON (conv_id, user_id, kind) * FROM input"
    "  ORDER BY conv_id, user_id, kind, up_to DESC, ord"
    "), seq AS ("
    "  SELECT parley_reserve_seq(count(*)::int) AS last FROM best"
    "), up AS ("
    "  INSERT INTO receipts AS r (conv_id, user_id, kind, up_to, ts, seq)"
    "  SELECT b.conv_id, b.user_id, b.kind, b.up_to, b.ts,"
    "         seq.last - row_number() OVER (ORDER BY b.ord DESC) + 1"
    "  FROM best b, seq"
    "  ON CONFLICT (conv_id, user_id, kind) DO UPDATE"
    "    SET up_to = EXCLUDED.up_to, ts = EXCLUDED.ts, seq = EXCLUDED.seq"
    "    WHERE r.up_to < EXCLUDED.up_to"
    "  RETURNING r.conv_id, r.user_id, r.kind"
    ")"
    " SELECT b.ord FROM best b JOIN up USING (conv_id, user_id, kind) ORDER BY b.ord";

/* Input: $1 is a JSON array of {"user","ts"}: when users were last seen. */
static const char last_seen_sql[] =
    "UPDATE users u SET last_seen = v.ts"
    " FROM (SELECT (e->>'user')::uuid AS id,"
    "              max(timestamptz 'epoch' + (e->>'ts')::bigint * interval '1 millisecond') AS ts"
    "       FROM jsonb_array_elements($1::jsonb) AS e GROUP BY 1) v"
    " WHERE u.id = v.id AND (u.last_seen IS NULL OR u.last_seen < v.ts)";

typedef struct writer_item {
    writer_kind kind;
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
        w->conn = parley_db_connect(w->ctx->opt.database_url);
        if (PQstatus(w->conn) != CONNECTION_OK) {
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: writer cannot connect: %s",
                                 PQerrorMessage(w->conn));
            drop_connection(w);
            return -1;
        }
    }
    if (!w->prepared) {
        static const struct {
            const char *name, *sql;
        } statements[] = {
            {STORE_STATEMENT, store_sql},
            {RECEIPT_STATEMENT, receipt_sql},
            {LAST_SEEN_STATEMENT, last_seen_sql},
        };
        for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
            res = PQprepare(w->conn, statements[i].name, statements[i].sql, 1,
                            NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                mosquitto_log_printf(MOSQ_LOG_ERR,
                                     "parley: writer cannot prepare %s: %s",
                                     statements[i].name,
                                     PQerrorMessage(w->conn));
                PQclear(res);
                drop_connection(w);
                return -1;
            }
            PQclear(res);
        }
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

static char *join_batch(writer_item *items, size_t *len_out)
{
    size_t len = 2;
    char *buf, *p;

    for (writer_item *it = items; it != NULL; it = it->next)
        len += it->len + 1;
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

/* Waits until the connection's socket is ready for events, for at most
 * 250 ms.  Returns false when the statement must be abandoned: the writer is
 * stopping past its deadline, or the statement outlived deadline_ms (a
 * connection that hangs without failing). */
static bool wait_socket(writer *w, short events, int64_t deadline_ms)
{
    struct pollfd p = {.fd = PQsocket(w->conn), .events = events};

    if (give_up(w) || parley_now_ms() >= deadline_ms)
        return false;
    if (poll(&p, 1, 250) < 0 && errno != EINTR)
        return false;
    return true;
}

/* Sends a prepared statement and waits for its result without ever
 * blocking for long.  Returns the result, or NULL (connection dropped) when
 * it failed to send, the statement took longer than STATEMENT_TIMEOUT_MS,
 * or the writer is stopping past its deadline. */
static PGresult *exec_bounded(writer *w, const char *statement,
                              const char *param)
{
    const char *values[1] = {param};
    int64_t deadline = parley_now_ms() + STATEMENT_TIMEOUT_MS;
    PGresult *res = NULL, *next;
    int flushed;

    if (PQsetnonblocking(w->conn, 1) != 0 ||
        !PQsendQueryPrepared(w->conn, statement, 1, values, NULL, NULL, 0))
        goto lost;
    while ((flushed = PQflush(w->conn)) == 1) {
        if (!wait_socket(w, POLLIN | POLLOUT, deadline))
            goto lost;
        if (PQconsumeInput(w->conn) == 0)
            goto lost;
    }
    if (flushed < 0)
        goto lost;
    for (;;) {
        while (PQisBusy(w->conn)) {
            if (!wait_socket(w, POLLIN, deadline) ||
                PQconsumeInput(w->conn) == 0)
                goto lost;
        }
        next = PQgetResult(w->conn);
        if (next == NULL)
            break;
        if (res == NULL)
            res = next;
        else
            PQclear(next);
    }
    return res;

lost:
    PQclear(res);
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "parley: writer gave up on a statement; reconnecting");
    drop_connection(w);
    return NULL;
}

/* Runs one prepared statement over items (passed as one JSON array).
 * On STORE_OK *res_out holds the result (PQclear it). */
static store_result exec_once(writer *w, const char *statement,
                              writer_item *items, PGresult **res_out,
                              char *errbuf, size_t errsize)
{
    size_t len;
    char *param;
    PGresult *res;
    store_result out;
    ExecStatusType st;

    *res_out = NULL;
    if (ensure_connection(w) != 0) {
        snprintf(errbuf, errsize, "no database connection");
        return STORE_RETRY;
    }
    param = join_batch(items, &len);
    if (param == NULL)
        return STORE_RETRY;
    res = exec_bounded(w, statement, param);
    free(param);
    if (res == NULL) {
        snprintf(errbuf, errsize, "the database did not answer");
        return STORE_RETRY;
    }
    st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *res_out = res;
        return STORE_OK;
    }
    snprintf(errbuf, errsize, "%s", PQerrorMessage(w->conn));
    out = is_transient(w, res) ? STORE_RETRY : STORE_REJECTED;
    PQclear(res);
    if (out == STORE_RETRY && PQstatus(w->conn) != CONNECTION_OK)
        drop_connection(w);
    return out;
}

/* exec_once, retried with backoff while the failure is transient.  Returns
 * STORE_RETRY only when the writer is stopping and its deadline passed. */
static store_result exec_retrying(writer *w, const char *statement,
                                  writer_item *items, PGresult **res_out,
                                  char *errbuf, size_t errsize)
{
    long backoff = BACKOFF_MIN_MS;
    bool logged = false;

    for (;;) {
        store_result r = exec_once(w, statement, items, res_out, errbuf,
                                   errsize);
        if (r != STORE_RETRY)
            return r;
        if (!logged) {
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: writer will retry: %s", errbuf);
            logged = true;
        }
        if (give_up(w))
            return STORE_RETRY;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

static void read_stored_row(PGresult *res, int i, stored_row *row)
{
    snprintf(row->sender, sizeof row->sender, "%s", PQgetvalue(res, i, 0));
    snprintf(row->conv, sizeof row->conv, "%s", PQgetvalue(res, i, 1));
    snprintf(row->txn, sizeof row->txn, "%s", PQgetvalue(res, i, 2));
    snprintf(row->id, sizeof row->id, "%s", PQgetvalue(res, i, 3));
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
        if (segment == 0)
            continue; /* not spooled */
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

/* Stores chat messages, then posts acks.  A batch the database refuses for
 * its content is stored row by row, and a row refused alone is reported to
 * its sender.  Returns false if the writer gave up (stopping). */
static bool store_messages(writer *w, writer_item *items, size_t n)
{
    stored_row *rows = calloc(n, sizeof *rows);
    char err[512];
    PGresult *res = NULL;
    size_t stored = 0;
    store_result r;

    if (rows == NULL)
        return false;
    r = exec_retrying(w, STORE_STATEMENT, items, &res, err, sizeof err);
    if (r == STORE_OK) {
        for (int i = 0; i < PQntuples(res) && (size_t)i < n; i++)
            read_stored_row(res, i, &rows[stored++]);
        PQclear(res);
    } else if (r == STORE_REJECTED) {
        for (writer_item *it = items; it != NULL; it = it->next) {
            writer_item single = *it;
            single.next = NULL;
            r = exec_retrying(w, STORE_STATEMENT, &single, &res, err,
                              sizeof err);
            if (r == STORE_OK) {
                if (PQntuples(res) == 1)
                    read_stored_row(res, 0, &rows[stored++]);
                PQclear(res);
            } else if (r == STORE_REJECTED) {
                post_not_stored(w, it, err);
            } else {
                break;
            }
        }
    }
    if (r != STORE_RETRY)
        post_acks(w, rows, stored);
    free(rows);
    return r != STORE_RETRY;
}

/* Stores read/delivered pointers and fans out those that moved forward. */
static bool store_receipts(writer *w, writer_item *items)
{
    char err[512];
    PGresult *res = NULL;
    store_result r = exec_retrying(w, RECEIPT_STATEMENT, items, &res, err,
                                   sizeof err);

    if (r == STORE_REJECTED)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: receipts not stored: %s", err);
    if (r != STORE_OK)
        return r != STORE_RETRY;
    for (int i = 0; i < PQntuples(res); i++) {
        long ord = strtol(PQgetvalue(res, i, 0), NULL, 10);
        writer_item *it = items;
        for (long k = 1; it != NULL && k < ord; k++)
            it = it->next;
        if (it == NULL)
            continue;
        json_t *rec = json_loadb(it->json, it->len, 0, NULL);
        const char *conv = json_string_value(json_object_get(rec, "conv"));
        if (conv != NULL && uuid_valid(conv)) {
            char topic[64];
            snprintf(topic, sizeof topic, "conv/%s/receipt", conv);
            mainq_post_publish(&w->ctx->queue, topic, it->json, it->len);
        }
        json_decref(rec);
    }
    PQclear(res);
    return true;
}

static bool store_last_seen(writer *w, writer_item *items)
{
    char err[512];
    PGresult *res = NULL;
    store_result r = exec_retrying(w, LAST_SEEN_STATEMENT, items, &res, err,
                                   sizeof err);

    if (r == STORE_REJECTED)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: last seen not stored: %s", err);
    PQclear(res);
    return r != STORE_RETRY;
}

/* Stores a batch: its messages, then its receipts (which may point at those
 * messages), then last-seen times; then lets the spool go.  Returns true if
 * every item is settled (stored, or refused and reported). */
static bool store_batch(writer *w, writer_item *batch)
{
    writer_item *lists[WRITE_KIND_COUNT] = {NULL};
    writer_item *tails[WRITE_KIND_COUNT] = {NULL};
    size_t counts[WRITE_KIND_COUNT] = {0};
    bool settled = true;

    /* Split by kind on copies of the links, keeping the batch intact. */
    writer_item *copies;
    size_t total = 0;

    for (writer_item *it = batch; it != NULL; it = it->next)
        total++;
    copies = calloc(total, sizeof *copies);
    if (copies == NULL)
        return false;
    size_t i = 0;
    for (writer_item *it = batch; it != NULL; it = it->next, i++) {
        copies[i] = *it;
        copies[i].next = NULL;
        if (tails[it->kind] != NULL)
            tails[it->kind]->next = &copies[i];
        else
            lists[it->kind] = &copies[i];
        tails[it->kind] = &copies[i];
        counts[it->kind]++;
    }
    if (lists[WRITE_MESSAGE] != NULL)
        settled = store_messages(w, lists[WRITE_MESSAGE], counts[WRITE_MESSAGE]);
    if (settled && lists[WRITE_RECEIPT] != NULL)
        settled = store_receipts(w, lists[WRITE_RECEIPT]);
    if (settled && lists[WRITE_LAST_SEEN] != NULL)
        settled = store_last_seen(w, lists[WRITE_LAST_SEEN]);
    free(copies);
    if (settled)
        post_spool_release(w, batch);
    return settled;
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

        bool settled = store_batch(w, batch);

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
    w->thread_started = plugin_thread_start(&w->thread, writer_main, w) == 0;
    if (!w->thread_started) {
        writer_stop(w);
        return NULL;
    }
    return w;
}

int writer_enqueue(writer *w, writer_kind kind, char *json, size_t len,
                   uint32_t segment, bool force)
{
    writer_item *it = malloc(sizeof *it);
    bool was_empty;

    if (it == NULL)
        return -1;
    it->kind = kind;
    it->json = json;
    it->len = len;
    it->segment = segment;
    it->next = NULL;

    pthread_mutex_lock(&w->lock);
    if (!force && w->count >= (size_t)w->ctx->opt.queue_max) {
        pthread_mutex_unlock(&w->lock);
        free(it);
        return -1;
    }
    was_empty = w->head == NULL;
    if (w->tail != NULL)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    /* One wake-up per burst: the writer drains everything queued. */
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
