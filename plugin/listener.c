/*
 * listener.c - the thread that keeps the broker's view of the database
 * current.
 *
 * It LISTENs on parley_events, then loads every membership into a fresh
 * cache and hands it to the main thread whole; from then on each
 * notification parley-api sends (member_added, member_removed, role_changed)
 * becomes one change queued for the main thread, which also publishes it on
 * conv/{c}/event.  Notifications are applied in commit order after the
 * snapshot, and each is idempotent, so any overlap between the two
 * converges.  After a lost connection it reconnects and starts over.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_ctx.h"

#define RECONNECT_MAX_MS 5000

struct listener {
    parley_ctx *ctx;
    pthread_t thread;
    bool thread_started;
    int stop_pipe[2]; /* writing a byte to [1] stops the thread */
    PGconn *conn;
};

static bool stop_requested(listener *l, int timeout_ms)
{
    struct pollfd p = {.fd = l->stop_pipe[0], .events = POLLIN};

    return poll(&p, 1, timeout_ms) > 0;
}

static membership_cache *load_snapshot(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT conv_id::text, user_id::text, role "
                                 "FROM members");
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
        if (membership_cache_set(cache, &conv, &user, role) != 0) {
            membership_cache_free(cache);
            cache = NULL;
        }
    }
    PQclear(res);
    return cache;
}

/* Turns one notification payload into a queued change. */
static void handle_event(listener *l, const char *payload)
{
    json_t *ev = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *conv = json_string_value(json_object_get(ev, "conv"));
    const char *user = json_string_value(json_object_get(ev, "user"));
    const char *role = json_string_value(json_object_get(ev, "role"));
    mainq_item *item = NULL;

    if (type == NULL || conv == NULL || user == NULL)
        goto done;
    item = calloc(1, sizeof *item);
    if (item == NULL)
        goto done;
    if (uuid_parse_n(conv, strlen(conv), &item->conv) != 0 ||
        uuid_parse_n(user, strlen(user), &item->user) != 0)
        goto done;
    if (strcmp(type, "member_added") == 0 || strcmp(type, "role_changed") == 0) {
        item->kind = MAINQ_MEMBER_SET;
        if (member_role_parse(role ? role : "member", &item->role) != 0)
            goto done;
    } else if (strcmp(type, "member_removed") == 0) {
        item->kind = MAINQ_MEMBER_REMOVE;
    } else {
        goto done; /* an event for someone else */
    }
    /* The event goes along, to be published on conv/{c}/event. */
    item->payload = json_dumps(ev, JSON_COMPACT);
    item->payload_len = item->payload ? strlen(item->payload) : 0;
    mainq_post(&l->ctx->queue, item);
    item = NULL;

done:
    free(item);
    json_decref(ev);
}

/* Connects, listens and posts a snapshot.  Returns 0, or -1 to retry. */
static int start_session(listener *l)
{
    PGresult *res;
    membership_cache *snapshot;
    mainq_item *item;

    l->conn = PQconnectdb(l->ctx->opt.database_url);
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
    snapshot = load_snapshot(l->conn);
    if (snapshot == NULL)
        return -1;
    item = calloc(1, sizeof *item);
    if (item == NULL) {
        membership_cache_free(snapshot);
        return -1;
    }
    item->kind = MAINQ_MEMBERS_SNAPSHOT;
    item->snapshot = snapshot;
    mainq_post(&l->ctx->queue, item);
    mosquitto_log_printf(MOSQ_LOG_INFO, "parley: %zu memberships loaded",
                         membership_cache_count(snapshot));
    return 0;
}

/* Waits for notifications until the connection fails or stop is asked.
 * Returns true if stop was asked. */
static bool follow_events(listener *l)
{
    for (;;) {
        struct pollfd p[2] = {
            {.fd = PQsocket(l->conn), .events = POLLIN},
            {.fd = l->stop_pipe[0], .events = POLLIN},
        };
        PGnotify *n;

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return false;
        if (p[1].revents != 0)
            return true;
        if (PQconsumeInput(l->conn) == 0)
            return false;
        while ((n = PQnotifies(l->conn)) != NULL) {
            handle_event(l, n->extra);
            PQfreemem(n);
        }
        if (PQstatus(l->conn) != CONNECTION_OK)
            return false;
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
    sigset_t all, old;

    if (l == NULL)
        return NULL;
    l->ctx = ctx;
    if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
        free(l);
        return NULL;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    l->thread_started = pthread_create(&l->thread, NULL, listener_main, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
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
