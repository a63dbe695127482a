/*
 * writer.c - the thread that stores accepted messages in PostgreSQL.
 *
 * The main thread appends rewritten messages to a bounded queue and wakes the
 * writer only when it waits for work, so a batch costs one wake-up however
 * many messages it holds.  The writer takes what is queued, up to batch_max
 * messages, or more (up to BATCH_GROWN_MAX) while a backlog builds, so that
 * one commit covers more rows.  When it finds fewer than batch_max waiting,
 * it lingers for more until the oldest has waited writer_linger_ms (group
 * commit): at a steady rate a transaction then carries many messages
 * instead of one or two, for at most that much more delay before the ack.
 *
 * A batch of messages is stored in one transaction: the change sequence is
 * reserved for it (parley_reserve_seq, whose row lock is held until commit
 * so that numbers become visible in order), then the rows are sent with a
 * binary COPY straight into messages, their columns read from the rewritten
 * JSON here: one query string and two round trips, the commit included.
 * COPY cannot skip a row that is already stored, so when it
 * fails for the content (a resend or a replay already stored, a
 * conversation deleted meanwhile) the transaction is rolled back and the
 * batch goes through the prepared JSON statement instead, which inserts with
 * ON CONFLICT (sender_id, txn) DO NOTHING and answers the stored id of every
 * row, the first copy's for a duplicate.  Duplicates are rare (a resend
 * after a lost ack, a replay after a crash), so nearly every batch takes the
 * fast path.  Acks (formatted from a fixed template) and spool releases are
 * handed to the main thread after the commit, in one hand-off per batch.
 *
 * Failures: a lost connection or an overloaded server is retried with
 * backoff, the batch kept (the queue meanwhile fills and new publishes are
 * refused); a statement that gets no answer for STATEMENT_TIMEOUT_MS is
 * abandoned with its connection and retried on a new one; a batch that the
 * database refuses for its content even through the JSON statement is
 * halved until the refused records are alone, and each of those is
 * reported to its sender.  The writer never waits on the
 * database for more than a quarter second without checking whether it is
 * being stopped.
 */
#include <jansson.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_ctx.h"
#include "writer.h"

#define STORE_STATEMENT "parley_store_batch"
#define RECEIPT_STATEMENT "parley_store_receipts"
#define LAST_SEEN_STATEMENT "parley_store_last_seen"
#define STOP_DEADLINE_MS 10000
#define BACKOFF_MIN_MS 50
/* A statement without an answer for this long is abandoned and the
 * connection replaced: storing is idempotent, so the retry is safe. */
#define STATEMENT_TIMEOUT_MS 15000
#define BACKOFF_MAX_MS 2000
/* While more than batch_max messages wait, a batch may take up to this many
 * (or batch_max, if larger): a bigger transaction amortises the commit, and
 * the bound keeps the change_counter lock short and the memory small. */
#define BATCH_GROWN_MAX 16384
#define BATCH_GROWN_BYTES (8 * 1024 * 1024)
/* At most this many messages are acknowledged in one ack publish, so a
 * grown batch does not make one huge MQTT message. */
#define ACK_ITEMS_MAX 1000
/* COPY data is handed to libpq in pieces of this size. */
#define COPY_CHUNK (256 * 1024)

/* Input: $1 is a JSON array of rewritten messages.  Output, one row per
 * input element in order: sender, conv, txn and the id stored for that
 * (sender, txn), which for a resend is the id of the first copy (looked up
 * only for the rows the insert did not take).  The fallback for batches the
 * COPY refused. */
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
    "        COALESCE(ins.id,"
    "                 (SELECT m.id FROM messages m"
    "                  WHERE m.sender_id = i.sender_id AND m.txn = i.txn),"
    "                 i.id)::text"
    " FROM input i"
    " LEFT JOIN ins ON ins.sender_id = i.sender_id AND ins.txn = i.txn"
    " ORDER BY i.ord";

/* The fast path's transaction, sent as one query string: the statements
 * of one string form one transaction, committed when the last (the COPY)
 * is done, before its result is sent.  So a batch costs two round trips:
 * this string, answered with the last of the %zu numbers it reserves in
 * the change sequence (their row lock is held until commit) and the start
 * of the COPY; then the rows.  The table lock comes first, so a writer
 * kept waiting for it (a long LOCK TABLE, DDL) does not hold the
 * change_counter lock that every other writer of changes needs. */
#define COPY_TRANSACTION_SQL                                                   \
    "LOCK TABLE messages IN ROW EXCLUSIVE MODE;"                               \
    " SELECT parley_reserve_seq(%zu);"                                         \
    " COPY messages (" WRITER_COPY_COLUMNS ") FROM STDIN (FORMAT binary)"
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

/* ===== the thread ===== */

typedef struct writer_item {
    writer_kind kind;
    char *json;
    size_t len;
    uint32_t segment;
    struct timespec queued; /* CLOCK_MONOTONIC, when it was enqueued */
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
    bool idle; /* the thread waits for work: the next enqueue wakes it */
    bool lingering; /* it waits for a small batch to fill: batch_max wakes it */
    size_t batch_max;
    int64_t linger_ms;
    bool stopping;
    int64_t stop_deadline_ms;
    PGconn *conn;
    bool prepared;
    /* Writer thread only: */
    writer_buf copy;          /* the batch as binary COPY data */
    char *scratch;            /* decoded columns of one message */
    size_t scratch_cap;
    mainq_item *out, *out_tail; /* for the main thread, posted per batch */
};

/* One stored message, for building acks. */
typedef struct stored_row {
    char sender[UUID_STR_LEN + 1];
    char conv[UUID_STR_LEN + 1];
    char txn[PAYLOAD_TXN_MAX + 1];
    char id[PARLEY_ID_STR_MAX + 1];
    size_t ord; /* position in the batch */
} stored_row;

typedef enum store_result {
    STORE_OK,
    STORE_RETRY,    /* transient: try the same batch again */
    STORE_REJECTED, /* the database refused the content */
} store_result;

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

/* ----- what goes back to the main thread ----- */

/* Queues a publish of payload (malloc'd, NUL-terminated, len bytes; taken
 * over even on failure) for the batch's hand-off. */
static void out_publish(writer *w, const char *topic, char *payload,
                        size_t len)
{
    mainq_item *item = calloc(1, sizeof *item);

    if (item == NULL || (item->topic = strdup(topic)) == NULL) {
        free(item);
        free(payload);
        return;
    }
    item->kind = MAINQ_PUBLISH;
    item->payload = payload;
    item->payload_len = len;
    item->qos = 1;
    if (w->out_tail != NULL)
        w->out_tail->next = item;
    else
        w->out = item;
    w->out_tail = item;
}

static void out_publish_copy(writer *w, const char *topic,
                             const char *payload, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy == NULL)
        return;
    memcpy(copy, payload, len);
    copy[len] = '\0';
    out_publish(w, topic, copy, len);
}

/* Hands everything queued for the main thread over at once: one wake-up of
 * the broker per batch. */
static void out_flush(writer *w)
{
    mainq_post_list(&w->ctx->queue, w->out);
    w->out = w->out_tail = NULL;
}

/* ----- the connection ----- */

/* Makes sure there is a usable connection with the statements prepared.
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

/* ----- talking to the server without blocking for long ----- */

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

/* Sends what libpq holds for the server.  Returns false if that failed or
 * took too long. */
static bool flush_bounded(writer *w, int64_t deadline)
{
    int flushed;

    while ((flushed = PQflush(w->conn)) == 1) {
        if (!wait_socket(w, POLLIN | POLLOUT, deadline))
            return false;
        if (PQconsumeInput(w->conn) == 0)
            return false;
    }
    return flushed == 0;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ||
           st == PGRES_COPY_IN;
}

/* Gives up on the connection after a statement got no answer. */
static void abandon(writer *w)
{
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "parley: writer gave up on a statement; reconnecting");
    drop_connection(w);
}

/* Flushes what was sent and waits for its results.  Returns the first
 * failed result if any, else the last one; a COPY IN result is returned as
 * soon as it arrives, the result before it (if any) in *before_copy when
 * that is not NULL.  Returns NULL (connection dropped) when sending failed,
 * no answer came before deadline, or the writer is stopping past its
 * deadline. */
static PGresult *finish_results(writer *w, bool sent, int64_t deadline,
                                PGresult **before_copy)
{
    PGresult *res = NULL, *next;

    if (before_copy != NULL)
        *before_copy = NULL;
    if (!sent || !flush_bounded(w, deadline))
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
        if (PQresultStatus(next) == PGRES_COPY_IN) {
            /* Only statements that succeeded come before a COPY. */
            if (before_copy != NULL)
                *before_copy = res;
            else
                PQclear(res);
            return next;
        }
        /* Of several statements sent together, the last result counts,
         * unless an earlier one failed (the rest were then not run). */
        if (res == NULL || result_ok(res)) {
            PQclear(res);
            res = next;
        } else {
            PQclear(next);
        }
    }
    return res;

lost:
    PQclear(res);
    abandon(w);
    return NULL;
}

static PGresult *finish_bounded(writer *w, bool sent, int64_t deadline)
{
    return finish_results(w, sent, deadline, NULL);
}

/* Sends a prepared statement with one text parameter and waits for its
 * result without ever blocking for long (see finish_bounded). */
static PGresult *exec_bounded(writer *w, const char *statement,
                              const char *param)
{
    const char *values[1] = {param};
    int64_t deadline = parley_now_ms() + STATEMENT_TIMEOUT_MS;

    if (PQsetnonblocking(w->conn, 1) != 0) {
        abandon(w);
        return NULL;
    }
    return finish_bounded(
        w, PQsendQueryPrepared(w->conn, statement, 1, values, NULL, NULL, 0),
        deadline);
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
    if (result_ok(res)) {
        *res_out = res;
        return STORE_OK;
    }
    snprintf(errbuf, errsize, "%s", PQresultErrorMessage(res));
    out = is_transient(w, res) ? STORE_RETRY : STORE_REJECTED;
    PQclear(res);
    if (out == STORE_RETRY && PQstatus(w->conn) != CONNECTION_OK)
        drop_connection(w);
    return out;
}

/* Waits before a retry; logs the first failure of a series.  Returns false
 * when the writer must give up (stopping, past its deadline). */
static bool backoff_wait(writer *w, long *backoff, bool *logged,
                         const char *why)
{
    if (!*logged) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: writer will retry: %s",
                             why);
        *logged = true;
    }
    if (give_up(w))
        return false;
    sleep_ms(*backoff);
    *backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
    return true;
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
        if (r != STORE_RETRY || !backoff_wait(w, &backoff, &logged, errbuf))
            return r;
    }
}

/* ----- the fast path: binary COPY in a transaction ----- */

/* Reports a fast-path transaction that failed at res (NULL: no answer, the
 * connection is already dropped); the failure ended it.  Returns
 * STORE_RETRY for a transient failure, STORE_REJECTED when the content was
 * refused. */
static store_result copy_failed(writer *w, PGresult *res, char *errbuf,
                                size_t errsize)
{
    store_result out;

    if (res == NULL) {
        snprintf(errbuf, errsize, "the database did not answer");
        return STORE_RETRY;
    }
    snprintf(errbuf, errsize, "%s", PQresultErrorMessage(res));
    out = is_transient(w, res) ? STORE_RETRY : STORE_REJECTED;
    PQclear(res);
    if (w->conn == NULL)
        return out;
    if (PQstatus(w->conn) != CONNECTION_OK) {
        drop_connection(w);
        return out;
    }
    /* An error ends the statements of one query string and their
     * transaction; a connection left in any other state is not reused. */
    if (PQtransactionStatus(w->conn) != PQTRANS_IDLE)
        drop_connection(w);
    return out;
}

/* Sends the COPY data, then its end, and waits for the outcome. */
static PGresult *copy_send(writer *w, const writer_buf *data,
                           int64_t deadline)
{
    for (size_t off = 0; off < data->len;) {
        size_t chunk = data->len - off < COPY_CHUNK ? data->len - off
                                                    : COPY_CHUNK;
        int rc = PQputCopyData(w->conn, data->data + off, (int)chunk);
        if (rc < 0 || !flush_bounded(w, deadline))
            return finish_bounded(w, false, deadline);
        if (rc == 1)
            off += chunk;
    }
    for (;;) {
        int rc = PQputCopyEnd(w->conn, NULL);
        if (rc < 0)
            return finish_bounded(w, false, deadline);
        if (rc == 1)
            break;
        if (!flush_bounded(w, deadline))
            return finish_bounded(w, false, deadline);
    }
    return finish_bounded(w, true, deadline);
}

/* Stores the n rows encoded in data (seq fields at seq_offsets) in one
 * transaction (see COPY_TRANSACTION_SQL). */
static store_result copy_once(writer *w, writer_buf *data,
                              const size_t *seq_offsets, size_t n,
                              char *errbuf, size_t errsize)
{
    char sql[sizeof COPY_TRANSACTION_SQL + 24];
    PGresult *res, *reserved;
    int64_t last, deadline;

    if (ensure_connection(w) != 0) {
        snprintf(errbuf, errsize, "no database connection");
        return STORE_RETRY;
    }
    if (PQsetnonblocking(w->conn, 1) != 0) {
        abandon(w);
        snprintf(errbuf, errsize, "the database connection failed");
        return STORE_RETRY;
    }
    snprintf(sql, sizeof sql, COPY_TRANSACTION_SQL, n);
    deadline = parley_now_ms() + STATEMENT_TIMEOUT_MS;
    res = finish_results(w, PQsendQuery(w->conn, sql), deadline, &reserved);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN)
        return copy_failed(w, res, errbuf, errsize);
    if (reserved == NULL || PQresultStatus(reserved) != PGRES_TUPLES_OK ||
        PQntuples(reserved) != 1) {
        /* Cannot happen; the connection is mid-COPY, so start over. */
        PQclear(reserved);
        PQclear(res);
        abandon(w);
        snprintf(errbuf, errsize, "unexpected answer to the sequence");
        return STORE_RETRY;
    }
    last = strtoll(PQgetvalue(reserved, 0, 0), NULL, 10);
    PQclear(reserved);
    PQclear(res);
    for (size_t i = 0; i < n; i++)
        writer_copy_set_seq(data, seq_offsets[i], last - (int64_t)n + 1 +
                                                      (int64_t)i);

    /* The COPY's result comes after the commit.  No answer leaves the
     * outcome unknown: the retry then finds the rows stored and takes the
     * JSON statement, which answers the stored ids. */
    res = copy_send(w, data, deadline);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        return copy_failed(w, res, errbuf, errsize);
    PQclear(res);
    return STORE_OK;
}

/* Scratch room for decoding a message of len bytes. */
static int ensure_scratch(writer *w, size_t len)
{
    if (w->scratch_cap >= len + 2)
        return 0;
    char *s = realloc(w->scratch, len + 2);
    if (s == NULL)
        return -1;
    w->scratch = s;
    w->scratch_cap = len + 2;
    return 0;
}

/* Stores n chat messages with one binary COPY and fills rows for their
 * acks.  Returns STORE_OK, STORE_REJECTED when the batch must take the JSON
 * statement instead (a record this path does not read, or a COPY the
 * database refused: a duplicate, a deleted conversation), or STORE_RETRY
 * when the writer gave up (stopping). */
static store_result copy_messages(writer *w, writer_item *items, size_t n,
                                  stored_row *rows, char *errbuf,
                                  size_t errsize)
{
    size_t *seq_offsets = malloc(n * sizeof *seq_offsets), i = 0;
    writer_buf *data = &w->copy;
    writer_message m;
    store_result r = STORE_REJECTED;
    long backoff = BACKOFF_MIN_MS;
    bool logged = false;

    data->len = 0;
    if (seq_offsets == NULL || writer_copy_begin(data) != 0)
        goto done;
    for (writer_item *it = items; it != NULL; it = it->next, i++) {
        if (ensure_scratch(w, it->len) != 0 ||
            writer_message_parse(it->json, it->len, w->scratch, &m) != 0 ||
            m.txn_len > PAYLOAD_TXN_MAX ||
            writer_copy_row(data, &m, &seq_offsets[i]) != 0)
            goto done;
        uuid_format(&m.from, rows[i].sender);
        uuid_format(&m.conv, rows[i].conv);
        memcpy(rows[i].txn, m.txn, m.txn_len);
        rows[i].txn[m.txn_len] = '\0';
        snprintf(rows[i].id, sizeof rows[i].id, "%lld", (long long)m.id);
    }
    if (writer_copy_end(data) != 0)
        goto done;
    for (;;) {
        r = copy_once(w, data, seq_offsets, n, errbuf, errsize);
        if (r != STORE_RETRY || !backoff_wait(w, &backoff, &logged, errbuf))
            break;
    }
done:
    free(seq_offsets);
    /* A burst of large payloads should not pin its buffer for good. */
    if (data->cap > 16 * 1024 * 1024)
        writer_buf_free(data);
    return r;
}

/* ----- storing a batch ----- */

static void read_stored_row(PGresult *res, int i, stored_row *row)
{
    snprintf(row->sender, sizeof row->sender, "%s", PQgetvalue(res, i, 0));
    snprintf(row->conv, sizeof row->conv, "%s", PQgetvalue(res, i, 1));
    snprintf(row->txn, sizeof row->txn, "%s", PQgetvalue(res, i, 2));
    snprintf(row->id, sizeof row->id, "%s", PQgetvalue(res, i, 3));
}

/* By sender, then in batch order, so each sender's acks keep the order in
 * which the messages were stored. */
static int compare_rows_by_sender(const void *a, const void *b)
{
    const stored_row *x = a, *y = b;
    int c = strcmp(x->sender, y->sender);

    if (c != 0)
        return c;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Queues one ack per sender (per ACK_ITEMS_MAX messages of a sender): a
 * single ack, or {"type":"ack","items":[...]}.  rows are reordered. */
static void post_acks(writer *w, stored_row *rows, size_t n)
{
    char topic[64];
    writer_ack_item *items;

    if (n == 0)
        return;
    items = malloc(n * sizeof *items);
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        rows[i].ord = i;
    qsort(rows, n, sizeof *rows, compare_rows_by_sender);
    for (size_t i = 0; i < n;) {
        size_t j = i, len;
        char *text;

        while (j < n && j - i < ACK_ITEMS_MAX &&
               strcmp(rows[j].sender, rows[i].sender) == 0) {
            items[j - i] = (writer_ack_item){rows[j].conv, rows[j].txn,
                                             rows[j].id};
            j++;
        }
        text = writer_ack_format(items, j - i, &len);
        if (text != NULL) {
            snprintf(topic, sizeof topic, "user/%s/inbox", rows[i].sender);
            out_publish(w, topic, text, len);
        }
        i = j;
    }
    free(items);
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
        if (w->out_tail != NULL)
            w->out_tail->next = q;
        else
            w->out = q;
        w->out_tail = q;
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
            out_publish(w, topic, text, strlen(text));
        json_decref(err);
    }
    json_decref(msg);
}

/* Stores the n messages of items with the JSON statement, appending their
 * rows (ids as stored) to rows + *stored.  A part the database refuses for
 * its content is halved until each refused message is alone, and that one
 * is reported to its sender: a few bad records in a large batch cost a few
 * statements, not one per message.  Returns STORE_RETRY if the writer gave
 * up (stopping), else STORE_OK (every message settled). */
static store_result store_json(writer *w, writer_item *items, size_t n,
                               stored_row *rows, size_t *stored)
{
    char err[512];
    PGresult *res = NULL;
    writer_item *before_mid, *mid;
    store_result r;

    r = exec_retrying(w, STORE_STATEMENT, items, &res, err, sizeof err);
    if (r == STORE_OK) {
        for (int i = 0; i < PQntuples(res) && (size_t)i < n; i++)
            read_stored_row(res, i, &rows[(*stored)++]);
        PQclear(res);
        return STORE_OK;
    }
    if (r == STORE_RETRY)
        return r;
    if (n == 1) {
        post_not_stored(w, items, err);
        return STORE_OK;
    }
    before_mid = items;
    for (size_t i = 1; i < n / 2; i++)
        before_mid = before_mid->next;
    mid = before_mid->next;
    before_mid->next = NULL;
    r = store_json(w, items, n / 2, rows, stored);
    if (r == STORE_OK)
        r = store_json(w, mid, n - n / 2, rows, stored);
    before_mid->next = mid;
    return r;
}

/* Stores chat messages, then queues acks.  The batch goes by binary COPY;
 * one the COPY refuses goes through the JSON statement (store_json).
 * Returns false if the writer gave up (stopping). */
static bool store_messages(writer *w, writer_item *items, size_t n)
{
    stored_row *rows = calloc(n, sizeof *rows);
    char err[512];
    size_t stored = 0;
    store_result r;

    if (rows == NULL)
        return false;
    err[0] = '\0';
    r = copy_messages(w, items, n, rows, err, sizeof err);
    if (r == STORE_OK) {
        stored = n;
    } else if (r == STORE_REJECTED) {
        if (err[0] != '\0')
            mosquitto_log_printf(MOSQ_LOG_INFO,
                                 "parley: COPY of %zu messages refused (%s); "
                                 "storing them with ON CONFLICT",
                                 n, err);
        memset(rows, 0, n * sizeof *rows);
        r = store_json(w, items, n, rows, &stored);
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
            out_publish_copy(w, topic, it->json, it->len);
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
 * messages), then last-seen times; then lets the spool go.  What the main
 * thread must do (acks, fan-out, spool releases) is handed over at once at
 * the end.  Returns true if every item is settled (stored, or refused and
 * reported). */
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
    out_flush(w);
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

/* Takes the next batch off the queue (with w->lock held and the queue not
 * empty): batch_max items, or while a backlog builds up to BATCH_GROWN_MAX
 * items and BATCH_GROWN_BYTES bytes (never fewer than batch_max). */
static writer_item *take_batch(writer *w, size_t batch_max, size_t *n_out)
{
    size_t limit = batch_max, n = 1, bytes;
    writer_item *batch = w->head, *last = w->head;

    if (w->count > batch_max && batch_max < BATCH_GROWN_MAX)
        limit = w->count < BATCH_GROWN_MAX ? w->count : BATCH_GROWN_MAX;
    bytes = last->len;
    while (n < limit && last->next != NULL &&
           (n < batch_max || bytes < BATCH_GROWN_BYTES)) {
        last = last->next;
        bytes += last->len;
        n++;
    }
    w->head = last->next;
    if (w->head == NULL)
        w->tail = NULL;
    last->next = NULL;
    *n_out = n;
    return batch;
}

/* Waits (with w->lock held and something queued) until batch_max items are
 * queued, the writer is being stopped or the oldest item has waited
 * linger_ms: a small batch takes on company before it pays for a
 * transaction, and what queued up during the last one waits no longer. */
static void linger(writer *w)
{
    struct timespec until = w->head->queued;

    if (w->linger_ms <= 0 || w->count >= w->batch_max || w->stopping)
        return;
    timespec_add_ms(&until, w->linger_ms);
    w->lingering = true;
    while (w->lingering && !w->stopping) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    }
    w->lingering = false;
}

static void *writer_main(void *arg)
{
    writer *w = arg;

    /* Optionally, on a machine it shares with PostgreSQL, the broker's
     * thread, which answers clients, goes first: storing can wait a few
     * milliseconds (and then takes larger batches), though under a flood
     * it then falls behind sooner.  Raising one's own nice value needs no
     * privilege (and cannot be undone without one). */
    if (w->ctx->opt.writer_nice > 0) {
        id_t self = (id_t)gettid();
        int nice;
        errno = 0;
        nice = getpriority(PRIO_PROCESS, self);
        if (errno == 0) {
            nice += (int)w->ctx->opt.writer_nice;
            if (setpriority(PRIO_PROCESS, self, nice > 19 ? 19 : nice) != 0)
                mosquitto_log_printf(MOSQ_LOG_WARNING,
                                     "parley: cannot lower the writer's priority");
        }
    }

    for (;;) {
        writer_item *batch;
        size_t n = 0;

        pthread_mutex_lock(&w->lock);
        while (w->head == NULL && !w->stopping) {
            w->idle = true;
            pthread_cond_wait(&w->cond, &w->lock);
        }
        w->idle = false;
        if (w->head == NULL) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        linger(w);
        batch = take_batch(w, w->batch_max, &n);
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
    w->batch_max = (size_t)ctx->opt.batch_max;
    w->linger_ms = ctx->opt.writer_linger_ms;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (plugin_cond_init_monotonic(&w->cond) != 0) {
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

    if (it == NULL)
        return -1;
    it->kind = kind;
    it->json = json;
    it->len = len;
    it->segment = segment;
    it->next = NULL;
    clock_gettime(CLOCK_MONOTONIC, &it->queued);

    pthread_mutex_lock(&w->lock);
    if (!force && w->count >= (size_t)w->ctx->opt.queue_max) {
        pthread_mutex_unlock(&w->lock);
        free(it);
        return -1;
    }
    if (w->tail != NULL)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->count++;
    /* One wake-up per batch: only a writer waiting for work, or lingering
     * over a batch that is now full, needs one, and it takes everything
     * queued by the time it runs. */
    if (w->idle) {
        w->idle = false;
        pthread_cond_signal(&w->cond);
    } else if (w->lingering && w->count >= w->batch_max) {
        w->lingering = false;
        pthread_cond_signal(&w->cond);
    }
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
    writer_buf_free(&w->copy);
    free(w->scratch);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
