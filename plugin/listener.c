/*
 * listener.c - the thread that keeps the broker's view of the database
 * current.
 *
 * It LISTENs on parley_events, then loads every membership (and the users
 * with revoked tokens, bans or hidden presence) into fresh tables and hands
 * them to the main thread whole; from then on each notification parley-api
 * sends becomes work queued for the main thread: a membership change, a
 * user's new flags with a kick, or an event to publish on conv/{c}/event or
 * conv/{c}/receipt (docs/ARCHITECTURE.md lists them).  Notifications are
 * applied in commit order after the snapshot, and each is idempotent, so
 * any overlap between the two converges.  After a lost connection it
 * reconnects and starts over.
 *
 * Before its first snapshot it also hands over the stamps (sender, txn, id,
 * time) of the newest stored messages, so that a client resending after a
 * restart of the broker gets its message's stored id live too, not a new
 * one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_ctx.h"

#define RECONNECT_MAX_MS 5000
#define HEARTBEAT_MS 10000

struct listener {
    parley_ctx *ctx;
    pthread_t thread;
    bool thread_started;
    int stop_pipe[2]; /* writing a byte to [1] stops the thread */
    PGconn *conn;
    bool seeded; /* the first snapshot (after the stamps) was handed over */
};

static bool stop_requested(listener *l, int timeout_ms)
{
    struct pollfd p = {.fd = l->stop_pipe[0], .events = POLLIN};

    return poll(&p, 1, timeout_ms) > 0;
}

static membership_cache *load_memberships(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT m.conv_id::text, m.user_id::text,"
                                 " m.role, c.kind = 'channel'"
                                 " FROM members m"
                                 " JOIN conversations c ON c.id = m.conv_id");
    membership_cache *cache;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: cannot load memberships: %s",
                             PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    cache = membership_cache_new();
    for (int i = 0; cache != NULL && i < PQntuples(res); i++) {
        uuid_bin conv, user;
        member_role role;
        if (uuid_parse_n(PQgetvalue(res, i, 0), UUID_STR_LEN, &conv) != 0 ||
            uuid_parse_n(PQgetvalue(res, i, 1), UUID_STR_LEN, &user) != 0 ||
            member_role_parse(PQgetvalue(res, i, 2), &role) != 0)
            continue;
        if (membership_cache_set(cache, &conv, &user, role) != 0 ||
            (PQgetvalue(res, i, 3)[0] == 't' &&
             membership_cache_set_announce_only(cache, &conv, true) != 0)) {
            membership_cache_free(cache);
            cache = NULL;
        }
    }
    PQclear(res);
    return cache;
}

#define USER_FLAGS_COLUMNS                                                     \
    "SELECT id::text,"                                                         \
    " COALESCE(floor(extract(epoch FROM tokens_valid_after))::bigint, 0),"    \
    " COALESCE(floor(extract(epoch FROM banned_until))::bigint, 0),"          \
    " presence_hidden FROM users "

static void read_flags_row(PGresult *res, int i, uuid_bin *user,
                           user_flag_values *v)
{
    uuid_parse_n(PQgetvalue(res, i, 0), UUID_STR_LEN, user);
    v->tokens_valid_after_s = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    v->banned_until_s = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    v->presence_hidden = PQgetvalue(res, i, 3)[0] == 't';
}

static user_flags *load_user_flags(PGconn *conn)
{
    PGresult *res = PQexec(conn, USER_FLAGS_COLUMNS
                           "WHERE tokens_valid_after IS NOT NULL"
                           " OR banned_until > now() OR presence_hidden");
    user_flags *flags;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: cannot load user flags: %s",
                             PQerrorMessage(conn));
        PQclear(res);
        return NULL;
    }
    flags = user_flags_new();
    for (int i = 0; flags != NULL && i < PQntuples(res); i++) {
        uuid_bin user;
        user_flag_values v;
        read_flags_row(res, i, &user, &v);
        if (user_flags_set(flags, &user, &v) != 0) {
            user_flags_free(flags);
            flags = NULL;
        }
    }
    PQclear(res);
    return flags;
}

/* Reads one user's flags and queues them, with a kick if asked. */
static void post_user_flags(listener *l, const char *user, bool kick)
{
    const char *params[1] = {user};
    PGresult *res = PQexecParams(l->conn, USER_FLAGS_COLUMNS "WHERE id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    mainq_item *item;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return;
    }
    item = calloc(1, sizeof *item);
    if (item != NULL) {
        item->kind = MAINQ_USER_FLAGS;
        read_flags_row(res, 0, &item->user, &item->flags);
        item->kick = kick;
        mainq_post(&l->ctx->queue, item);
    }
    PQclear(res);
}

/* Queues an event for publishing on conv/{c}/<leaf>. */
static void post_conv_publish(listener *l, const char *conv, const char *leaf,
                              json_t *msg)
{
    char topic[80];
    char *text = json_dumps(msg, JSON_COMPACT);

    if (text != NULL) {
        snprintf(topic, sizeof topic, "conv/%s/%s", conv, leaf);
        mainq_post_publish(&l->ctx->queue, topic, text, strlen(text));
    }
    free(text);
}

/* edited, hidden: the event carries the message as it now is. */
static void post_message_event(listener *l, json_t *ev, const char *conv)
{
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *params[2] = {id, conv};
    PGresult *res;
    uint64_t parsed;

    if (id == NULL || id_parse(id, &parsed) != 0)
        return;
    res = PQexecParams(l->conn,
                       "SELECT parley_message_json(m)::text FROM messages m"
                       " WHERE id = $1::bigint AND conv_id = $2::uuid",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        json_t *message = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (message != NULL) {
            json_object_set_new(ev, "message", message);
            post_conv_publish(l, conv, "event", ev);
        }
    }
    PQclear(res);
}

static void post_member_change(listener *l, json_t *ev, const char *type,
                               const char *conv, const char *user)
{
    const char *role = json_string_value(json_object_get(ev, "role"));
    mainq_item *item = calloc(1, sizeof *item);

    if (item == NULL)
        return;
    if (uuid_parse_n(conv, strlen(conv), &item->conv) != 0 ||
        uuid_parse_n(user, strlen(user), &item->user) != 0)
        goto drop;
    if (strcmp(type, "member_removed") == 0) {
        item->kind = MAINQ_MEMBER_REMOVE;
    } else {
        const char *params[1] = {conv};
        PGresult *res;
        item->kind = MAINQ_MEMBER_SET;
        if (member_role_parse(role ? role : "member", &item->role) != 0)
            goto drop;
        res = PQexecParams(l->conn,
                           "SELECT kind = 'channel' FROM conversations"
                           " WHERE id = $1::uuid",
                           1, NULL, params, NULL, NULL, 0);
        /* Without an answer the conversation keeps its current mark. */
        item->announce_known =
            PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        item->announce_only =
            item->announce_known && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
    }
    /* The event goes along, to be published on conv/{c}/event. */
    item->payload = json_dumps(ev, JSON_COMPACT);
    item->payload_len = item->payload ? strlen(item->payload) : 0;
    mainq_post(&l->ctx->queue, item);
    return;
drop:
    free(item);
}

/* Turns one notification from parley-api into queued work for the main
 * thread.  Unknown types are ignored (a newer API may send more). */
static void handle_event(listener *l, const char *payload)
{
    json_t *ev = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *conv = json_string_value(json_object_get(ev, "conv"));
    const char *user = json_string_value(json_object_get(ev, "user"));

    if (type == NULL)
        goto done;
    if (conv != NULL && !uuid_valid(conv))
        goto done;
    if (user != NULL && !uuid_valid(user))
        goto done;

    if (strcmp(type, "member_added") == 0 ||
        strcmp(type, "member_removed") == 0 ||
        strcmp(type, "role_changed") == 0) {
        if (conv != NULL && user != NULL)
            post_member_change(l, ev, type, conv, user);
    } else if (strcmp(type, "edited") == 0 || strcmp(type, "hidden") == 0) {
        if (conv != NULL)
            post_message_event(l, ev, conv);
    } else if (strcmp(type, "deleted") == 0 ||
               strcmp(type, "conv_updated") == 0) {
        if (conv != NULL)
            post_conv_publish(l, conv, "event", ev);
    } else if (strcmp(type, "receipt") == 0) {
        /* A pointer moved over HTTP: fan it out like an MQTT receipt. */
        json_t *kind = json_object_get(ev, "kind");
        json_t *up_to = json_object_get(ev, "up_to");
        json_t *ts = json_object_get(ev, "ts");
        if (conv != NULL && user != NULL && json_is_string(kind) &&
            json_is_string(up_to) && json_is_integer(ts)) {
            json_t *r = json_pack("{s:O,s:O,s:s,s:s,s:O}", "type", kind,
                                  "up_to", up_to, "conv", conv, "from", user,
                                  "ts", ts);
            if (r != NULL)
                post_conv_publish(l, conv, "receipt", r);
            json_decref(r);
        }
    } else if (strcmp(type, "sessions_revoked") == 0 ||
               strcmp(type, "user_banned") == 0) {
        if (user != NULL)
            post_user_flags(l, user, true);
    } else if (strcmp(type, "user_unbanned") == 0 ||
               strcmp(type, "presence_changed") == 0) {
        if (user != NULL)
            post_user_flags(l, user, false);
    }
done:
    json_decref(ev);
}

/* The stamps of the newest RECENT_TXN_CAPACITY stored messages, oldest
 * first, as a RECENT_SEED item; NULL when they cannot be read (then a
 * resend after the restart gets a fresh id live, and is still stored once
 * and acked with the stored id). */
static mainq_item *load_recent_stamps(PGconn *conn)
{
    char limit[24];
    const char *params[1] = {limit};
    PGresult *res;
    mainq_item *item = NULL;
    int rows;

    snprintf(limit, sizeof limit, "%d", RECENT_TXN_CAPACITY);
    res = PQexecParams(conn,
                       "SELECT sender_id::text, txn, id::text,"
                       " (extract(epoch FROM ts) * 1000)::bigint FROM ("
                       "  SELECT sender_id, txn, id, ts FROM messages"
                       "  ORDER BY id DESC LIMIT $1::int) m ORDER BY id",
                       1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot load recent messages: %s",
                             PQerrorMessage(conn));
        goto done;
    }
    rows = PQntuples(res);
    item = calloc(1, sizeof *item);
    if (item == NULL ||
        (rows > 0 && (item->stamps = calloc((size_t)rows,
                                            sizeof *item->stamps)) == NULL)) {
        free(item);
        item = NULL;
        goto done;
    }
    item->kind = MAINQ_RECENT_SEED;
    for (int i = 0; i < rows; i++) {
        recent_stamp *st = &item->stamps[item->n_stamps];
        const char *txn = PQgetvalue(res, i, 1);
        if (uuid_parse_n(PQgetvalue(res, i, 0), UUID_STR_LEN, &st->sender) !=
                0 ||
            (size_t)PQgetlength(res, i, 1) > PAYLOAD_TXN_MAX)
            continue;
        memcpy(st->txn, txn, (size_t)PQgetlength(res, i, 1) + 1);
        st->id = strtoull(PQgetvalue(res, i, 2), NULL, 10);
        st->ts_ms = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        item->n_stamps++;
    }
done:
    PQclear(res);
    return item;
}

/* Connects, listens and posts a snapshot.  Returns 0, or -1 to retry. */
static int start_session(listener *l)
{
    PGresult *res;
    membership_cache *snapshot;
    user_flags *flags;
    mainq_item *item;

    l->conn = parley_db_connect(l->ctx->opt.database_url);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: listener cannot connect: %s",
                             PQerrorMessage(l->conn));
        return -1;
    }
    res = PQexec(l->conn, "LISTEN parley_events");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (!l->seeded) {
        /* Posted before the first snapshot: connections are let in only
         * once that is applied, so no client is stamped before the seed. */
        mainq_item *seed = load_recent_stamps(l->conn);
        if (seed != NULL) {
            mosquitto_log_printf(MOSQ_LOG_INFO,
                                 "parley: %zu recent message stamps loaded",
                                 seed->n_stamps);
            mainq_post(&l->ctx->queue, seed);
        }
    }
    snapshot = load_memberships(l->conn);
    flags = load_user_flags(l->conn);
    item = calloc(1, sizeof *item);
    if (snapshot == NULL || flags == NULL || item == NULL) {
        membership_cache_free(snapshot);
        user_flags_free(flags);
        free(item);
        return -1;
    }
    item->kind = MAINQ_MEMBERS_SNAPSHOT;
    item->snapshot = snapshot;
    item->flags_snapshot = flags;
    mainq_post(&l->ctx->queue, item);
    /* Later sessions seed nothing: clients are in, and older stamps would
     * push their newer ones out of the table. */
    l->seeded = true;
    mosquitto_log_printf(MOSQ_LOG_INFO, "parley: %zu memberships loaded",
                         membership_cache_count(snapshot));
    return 0;
}

/* Waits (until deadline_ms at most) for the answer to the heartbeat probe
 * and consumes it.  Returns false if it did not come. */
static bool finish_probe(listener *l, int64_t deadline_ms)
{
    PGresult *res;

    while (PQisBusy(l->conn)) {
        struct pollfd p = {.fd = PQsocket(l->conn), .events = POLLIN};
        int64_t left = deadline_ms - parley_now_ms();
        if (left <= 0 || poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 ||
            PQconsumeInput(l->conn) == 0)
            return false;
    }
    while ((res = PQgetResult(l->conn)) != NULL)
        PQclear(res);
    return true;
}

/* Waits for notifications until the connection fails or stop is asked.
 * A connection that stays silent is probed every HEARTBEAT_MS; one that
 * does not answer the probe within HEARTBEAT_MS is given up (it may hang
 * without failing), and the caller reconnects and reloads.  Returns true
 * if stop was asked. */
static bool follow_events(listener *l)
{
    int64_t last_heard = parley_now_ms(), probe_sent = 0;

    for (;;) {
        struct pollfd p[2] = {
            {.fd = PQsocket(l->conn), .events = POLLIN},
            {.fd = l->stop_pipe[0], .events = POLLIN},
        };
        PGnotify *n;
        int64_t now;

        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            return false;
        if (p[1].revents != 0)
            return true;
        if (p[0].revents != 0) {
            if (PQconsumeInput(l->conn) == 0)
                return false;
            last_heard = parley_now_ms();
        }
        while ((n = PQnotifies(l->conn)) != NULL) {
            /* Some events need a query: the probe must be answered first
             * (a reconnect reloads everything if it is not). */
            if (probe_sent != 0 &&
                !finish_probe(l, probe_sent + HEARTBEAT_MS)) {
                PQfreemem(n);
                return false;
            }
            probe_sent = 0;
            handle_event(l, n->extra);
            PQfreemem(n);
        }
        if (PQstatus(l->conn) != CONNECTION_OK)
            return false;
        if (probe_sent != 0 && !PQisBusy(l->conn)) {
            if (!finish_probe(l, probe_sent + HEARTBEAT_MS))
                return false;
            probe_sent = 0;
        }
        now = parley_now_ms();
        if (probe_sent != 0 && now - probe_sent > HEARTBEAT_MS) {
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: the events connection stopped "
                                 "answering");
            return false;
        }
        if (probe_sent == 0 && now - last_heard > HEARTBEAT_MS) {
            if (!PQsendQuery(l->conn, "SELECT 1"))
                return false;
            probe_sent = now;
        }
    }
}

static void *listener_main(void *arg)
{
    listener *l = arg;
    int backoff = 100;

    for (;;) {
        if (start_session(l) == 0) {
            backoff = 100;
            if (follow_events(l))
                break;
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "parley: lost the events connection; "
                                 "reconnecting");
        }
        PQfinish(l->conn);
        l->conn = NULL;
        if (stop_requested(l, backoff))
            break;
        backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
    }
    PQfinish(l->conn);
    l->conn = NULL;
    return NULL;
}

listener *listener_start(parley_ctx *ctx)
{
    listener *l = calloc(1, sizeof *l);

    if (l == NULL)
        return NULL;
    l->ctx = ctx;
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        free(l);
        return NULL;
    }
    l->thread_started = plugin_thread_start(&l->thread, listener_main, l) == 0;
    if (!l->thread_started) {
        listener_stop(l);
        return NULL;
    }
    return l;
}

void listener_stop(listener *l)
{
    if (l == NULL)
        return;
    if (l->thread_started) {
        if (write(l->stop_pipe[1], "x", 1) != 1) {
            /* The pipe is empty and ours: a write cannot fail here. */
        }
        pthread_join(l->thread, NULL);
    }
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l);
}
