/*
 * loadgen.c - parley-loadgen, the MQTT load generator of the benchmarks.
 *
 * One thread, one epoll loop, many libmosquitto clients: every client's
 * socket is non-blocking and the loop calls mosquitto_loop_read/write/misc
 * for it when epoll says so (never a thread per client).  The clients, their
 * credentials, subscriptions and publish topics come from a plan file
 * (plan.h), so the same bytes can be sent to a bare mosquitto, to one with
 * the dynamic-security plugin and to Parley.
 *
 * Two modes:
 *
 *   flow     connect and subscribe everything, then publish for warmup +
 *            duration seconds, at a fixed total rate (open loop: message k
 *            is due at start + k / rate and is stamped with that time) or
 *            flat out (each publisher keeps at most --window messages not
 *            yet delivered to every subscriber and, with inboxes, at most
 *            --ack-window not yet acked); then wait for what is in flight.
 *            Every message carries its publisher, sequence number and send
 *            time in its txn (stamp.h), so each delivery and each ack is
 *            accounted to its message: delivered, lost (not delivered
 *            within --loss-timeout), duplicated, late; latency histograms
 *            of delivery and of publish-to-ack.
 *   connect  connect (and subscribe) every client of the plan, --concurrency
 *            at a time, and report connects per second; with --hold, print
 *            the result and keep the connections open until stdin closes
 *            (the orchestrator measures the broker's memory meanwhile).
 *
 * The measurement window is [start + warmup, start + warmup + duration):
 * throughput counts deliveries received in it, latency counts messages sent
 * in it, and the broker's CPU time (utime + stime of /proc/<pid>/stat, all
 * threads) and, with --db-pid, that of the PostgreSQL postmaster and its
 * children, are read at its two ends.  The result is one JSON object on
 * stdout.  Exit status: 0 done, 1 a client failed (refused, lost its
 * connection), 2 usage, 3 --require-delivery and nothing was delivered.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "histogram.h"
#include "plan.h"
#include "stamp.h"

#define MAX_EVENTS 512
#define MAX_DB_PIDS 512
#define MAX_ERROR_CODES 16
#define PAYLOAD_MAX 70000
#define READ_BURST 256
#define SWEEP_EVERY_US 50000
#define MISC_EVERY_US 1000000
#define RATE_BATCH_MAX 2000
#define PUBLISH_BURST 64

typedef enum run_mode { MODE_FLOW, MODE_CONNECT } run_mode;

typedef struct options {
    run_mode mode;
    const char *plan_path;
    const char *host;
    const char *run_id;
    int port;
    int qos;
    int protocol; /* MQTT_PROTOCOL_V311 or MQTT_PROTOCOL_V5 */
    int keepalive;
    double rate; /* messages per second over all publishers; 0: flat out */
    double warmup_s, duration_s, drain_s;
    double loss_timeout_s, ack_timeout_s, connect_timeout_s;
    unsigned window, ack_window, body_chars, concurrency;
    long broker_pid, db_pid;
    bool hold, verbose, require_delivery;
} options;

/* One message in flight, in its publisher's ring. */
typedef struct slot {
    uint64_t sent_us;
    int32_t remaining;     /* deliveries still expected */
    uint8_t acked;         /* ack (or refusal) seen, or no ack expected */
    uint8_t deliv_expired; /* given up as lost */
    uint8_t ack_expired;   /* given up as unacked */
} slot;

struct client;

typedef struct publisher {
    struct client *client;
    uint32_t index; /* the stamp's publisher number */
    size_t next_topic;
    uint64_t next_seq;   /* the next message's sequence number */
    uint64_t tail_deliv; /* oldest message not yet delivered everywhere */
    uint64_t tail_ack;   /* oldest message not yet acked */
    uint64_t mqtt_inflight; /* published, PUBACK (QoS 0: the write) not seen */
    slot *slots;
    uint64_t ring; /* a power of two */
} publisher;

typedef enum client_state {
    CLIENT_IDLE,
    CLIENT_CONNECTING,
    CLIENT_SUBSCRIBING,
    CLIENT_READY,
    CLIENT_CLOSED,
    CLIENT_FAILED,
} client_state;

typedef struct client {
    struct loadgen *lg;
    const plan_client *pc;
    struct mosquitto *mosq;
    int fd; /* -1 while there is no socket */
    bool out_registered;
    bool closing; /* we asked for the disconnect */
    client_state state;
    uint64_t connect_start_us;
    uint64_t callbacks; /* counts callbacks, to see whether a read did work */
    publisher *pub;     /* NULL if the plan gives it nothing to publish */
} client;

typedef struct counters {
    uint64_t sent, sent_window, accepted, accepted_window, refused_puback;
    uint64_t publish_failed;
    uint64_t expected, delivered, delivered_window, lost, late, duplicates;
    uint64_t foreign;
    uint64_t acks, acks_late, acks_dup, unacked, refused;
    uint64_t ack_messages; /* ack publishes received (one may carry many) */
    uint64_t inbox_other, disconnects;
} counters;

typedef struct error_count {
    char code[40];
    uint64_t n;
} error_count;

typedef struct cpu_probe {
    long pids[MAX_DB_PIDS];
    size_t n;
    uint64_t ticks0, ticks1;
    bool ok;
} cpu_probe;

typedef struct loadgen {
    options opt;
    plan plan;
    client *clients;
    size_t n_clients;
    publisher *pubs;
    size_t n_pubs;
    int epfd;
    long clk_tck;

    /* connecting */
    size_t next_to_connect, in_progress, n_ready, n_failed;
    uint64_t connect_first_us, connect_last_us;
    latency_histogram connect_lat;
    char failure[256];

    /* flow */
    bool sending;
    uint64_t t_start, t_warm, t_end; /* window is [t_warm, t_end) */
    uint64_t rate_k;                 /* next message number in rate mode */
    double rate_interval_us;
    latency_histogram lat, ack_lat;
    counters c;
    error_count errors[MAX_ERROR_CODES];
    size_t n_errors;
    char payload[PAYLOAD_MAX];

    /* broker and database processes */
    cpu_probe broker_cpu, db_cpu;
    long broker_rss_kb, broker_hwm_kb;
    uint64_t self_cpu0_us, self_cpu1_us; /* this process, over the window */
    bool stdin_closed;
} loadgen;

/* ---------------------------------------------------------------- time */

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* CPU time of this process (user + system), microseconds. */
static uint64_t self_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t seconds_us(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1e6 + 0.5);
}

/* ---------------------------------------------------------------- /proc */

/* utime + stime (clock ticks) of one process, all its threads.  Returns 0
 * and sets *ticks, or -1 if the process is gone. */
static int proc_cpu_ticks(long pid, uint64_t *ticks, long *ppid)
{
    char path[64], buf[1024], *p;
    FILE *f;
    size_t n;
    unsigned long long ut = 0, st = 0;
    long pp = 0;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -1;
    /* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime ... */
    if (sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &pp, &ut, &st) != 3)
        return -1;
    *ticks = ut + st;
    if (ppid != NULL)
        *ppid = pp;
    return 0;
}

/* Fills probe with pid and, if children, every process whose parent it is
 * (PostgreSQL's backends), and takes the first reading. */
static void cpu_probe_start(cpu_probe *probe, long pid, bool children)
{
    uint64_t t;
    DIR *d;
    struct dirent *e;

    memset(probe, 0, sizeof *probe);
    if (pid <= 0)
        return;
    probe->pids[probe->n++] = pid;
    if (children && (d = opendir("/proc")) != NULL) {
        while ((e = readdir(d)) != NULL && probe->n < MAX_DB_PIDS) {
            long child = strtol(e->d_name, NULL, 10), ppid;
            if (child > 0 && proc_cpu_ticks(child, &t, &ppid) == 0 &&
                ppid == pid)
                probe->pids[probe->n++] = child;
        }
        closedir(d);
    }
    probe->ok = true;
    for (size_t i = 0; i < probe->n; i++) {
        if (proc_cpu_ticks(probe->pids[i], &t, NULL) == 0)
            probe->ticks0 += t;
        else if (i == 0)
            probe->ok = false;
    }
}

/* Second reading: processes gone meanwhile count what they had. */
static void cpu_probe_stop(cpu_probe *probe)
{
    uint64_t t;

    if (!probe->ok)
        return;
    probe->ticks1 = 0;
    for (size_t i = 0; i < probe->n; i++) {
        if (proc_cpu_ticks(probe->pids[i], &t, NULL) == 0)
            probe->ticks1 += t;
        else if (i == 0)
            probe->ok = false;
    }
    if (probe->ticks1 < probe->ticks0)
        probe->ticks1 = probe->ticks0;
}

static uint64_t cpu_probe_us(const loadgen *lg, const cpu_probe *probe)
{
    if (!probe->ok)
        return 0;
    return (probe->ticks1 - probe->ticks0) * 1000000u / (uint64_t)lg->clk_tck;
}

/* VmRSS and VmHWM of pid in kB (-1 when unknown). */
static void proc_memory_kb(long pid, long *rss, long *hwm)
{
    char path[64], line[256];
    FILE *f;

    *rss = *hwm = -1;
    if (pid <= 0)
        return;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* ---------------------------------------------------------------- epoll */

/* Marks c failed; the first failure of the run is kept for the report. */
static void fail_client(client *c, const char *what, const char *detail)
{
    loadgen *lg = c->lg;

    if (c->state == CLIENT_FAILED)
        return;
    if (c->state == CLIENT_CONNECTING || c->state == CLIENT_SUBSCRIBING)
        lg->in_progress--;
    if (c->state == CLIENT_READY)
        lg->n_ready--;
    c->state = CLIENT_FAILED;
    lg->n_failed++;
    if (lg->failure[0] == '\0')
        snprintf(lg->failure, sizeof lg->failure, "client %.60s: %.40s: %.120s",
                 c->pc->client_id, what, detail);
    if (lg->opt.verbose)
        fprintf(stderr, "loadgen: client %s failed: %s: %s\n",
                c->pc->client_id, what, detail);
}

/* Keeps epoll's interest in the client's socket in step with libmosquitto:
 * readable always, writable while it has something queued. */
static void client_sync(client *c)
{
    int fd = c->mosq ? mosquitto_socket(c->mosq) : -1;
    bool want;
    struct epoll_event ev;

    if (fd != c->fd) {
        /* libmosquitto closed the socket (closing removed it from epoll)
         * or opened a new one. */
        c->fd = fd;
        c->out_registered = false;
        if (fd < 0)
            return;
        want = mosquitto_want_write(c->mosq);
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
        ev.data.ptr = c;
        if (epoll_ctl(c->lg->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            fail_client(c, "epoll_ctl", strerror(errno));
            return;
        }
        c->out_registered = want;
        return;
    }
    if (fd < 0)
        return;
    want = mosquitto_want_write(c->mosq);
    if (want != c->out_registered) {
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
        ev.data.ptr = c;
        if (epoll_ctl(c->lg->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
            c->out_registered = want;
    }
}

/* ---------------------------------------------------------------- accounting */

static bool in_window(const loadgen *lg, uint64_t t)
{
    return t >= lg->t_warm && t < lg->t_end;
}

static void advance_tails(publisher *p)
{
    while (p->tail_deliv < p->next_seq &&
           p->slots[p->tail_deliv & (p->ring - 1)].remaining <= 0)
        p->tail_deliv++;
    while (p->tail_ack < p->next_seq &&
           p->slots[p->tail_ack & (p->ring - 1)].acked)
        p->tail_ack++;
}

/* The slot of message seq if the ring still holds it, else NULL: a slot
 * is reused by seq + ring, so it is seq's while fewer than ring messages
 * were sent after it. */
static slot *find_slot(publisher *p, uint64_t seq)
{
    if (seq >= p->next_seq || p->next_seq - seq > p->ring)
        return NULL;
    return &p->slots[seq & (p->ring - 1)];
}

/* Gives up on the oldest messages: undelivered after the loss timeout
 * (lost), unacked after the ack timeout.  force: at least the oldest one
 * of each kind, whatever its age (the ring is full). */
static void expire(loadgen *lg, publisher *p, uint64_t now, bool force)
{
    uint64_t loss = seconds_us(lg->opt.loss_timeout_s);
    uint64_t ackt = seconds_us(lg->opt.ack_timeout_s);
    bool force_deliv = force, force_ack = force;

    while (p->tail_deliv < p->next_seq) {
        slot *s = &p->slots[p->tail_deliv & (p->ring - 1)];
        if (s->remaining > 0) {
            if (!force_deliv && now < s->sent_us + loss)
                break;
            lg->c.lost += (uint64_t)s->remaining;
            s->remaining = 0;
            s->deliv_expired = 1;
            force_deliv = false;
        }
        p->tail_deliv++;
    }
    while (p->tail_ack < p->next_seq) {
        slot *s = &p->slots[p->tail_ack & (p->ring - 1)];
        if (!s->acked) {
            if (!force_ack && now < s->sent_us + ackt)
                break;
            lg->c.unacked++;
            s->acked = 1;
            s->ack_expired = 1;
            force_ack = false;
        }
        p->tail_ack++;
    }
}

static void count_error(loadgen *lg, const char *code, size_t len)
{
    size_t i;

    if (len >= sizeof lg->errors[0].code)
        len = sizeof lg->errors[0].code - 1;
    for (i = 0; i < lg->n_errors; i++) {
        if (strlen(lg->errors[i].code) == len &&
            memcmp(lg->errors[i].code, code, len) == 0) {
            lg->errors[i].n++;
            return;
        }
    }
    if (i == MAX_ERROR_CODES)
        i--; /* the last entry collects the rest */
    else
        lg->n_errors++;
    memcpy(lg->errors[i].code, code, len);
    lg->errors[i].code[len] = '\0';
    lg->errors[i].n++;
}

/* Looks up the message a txn names; NULL if it is not one of ours. */
static publisher *stamp_publisher(loadgen *lg, const char *txn, size_t len,
                                  msg_stamp *st)
{
    if (stamp_txn_parse(txn, len, lg->opt.run_id, st) != 0 ||
        st->publisher >= lg->n_pubs)
        return NULL;
    return &lg->pubs[st->publisher];
}

static void on_chat_message(loadgen *lg, const char *payload, size_t len)
{
    size_t tl;
    const char *txn = stamp_find_string(payload, payload + len, "txn", &tl);
    msg_stamp st;
    publisher *p;
    slot *s;
    uint64_t now = now_us();

    if (txn == NULL || (p = stamp_publisher(lg, txn, tl, &st)) == NULL ||
        st.seq >= p->next_seq) {
        lg->c.foreign++;
        return;
    }
    lg->c.delivered++;
    if (in_window(lg, now))
        lg->c.delivered_window++;
    if (in_window(lg, st.sent_us))
        histogram_record(&lg->lat, now > st.sent_us ? now - st.sent_us : 0);
    s = find_slot(p, st.seq);
    if (s == NULL) {
        lg->c.late++;
        return;
    }
    if (s->remaining > 0) {
        if (--s->remaining == 0 && st.seq == p->tail_deliv)
            advance_tails(p);
    } else if (s->deliv_expired) {
        lg->c.late++;
        if (lg->c.lost > 0)
            lg->c.lost--;
    } else {
        lg->c.duplicates++;
    }
}

static void on_ack(loadgen *lg, const char *txn, size_t tl, uint64_t now)
{
    msg_stamp st;
    publisher *p = stamp_publisher(lg, txn, tl, &st);
    slot *s;

    if (p == NULL || st.seq >= p->next_seq) {
        lg->c.inbox_other++;
        return;
    }
    lg->c.acks++;
    if (in_window(lg, st.sent_us))
        histogram_record(&lg->ack_lat, now > st.sent_us ? now - st.sent_us : 0);
    s = find_slot(p, st.seq);
    if (s == NULL) {
        lg->c.acks_late++;
    } else if (!s->acked) {
        s->acked = 1;
        if (st.seq == p->tail_ack)
            advance_tails(p);
    } else if (s->ack_expired) {
        lg->c.acks_late++;
        if (lg->c.unacked > 0)
            lg->c.unacked--;
    } else {
        lg->c.acks_dup++;
    }
}

/* A refusal: the message will be neither delivered nor acked. */
static void on_refusal(loadgen *lg, const char *payload, size_t len)
{
    size_t tl, cl;
    const char *end = payload + len;
    const char *code = stamp_find_string(payload, end, "code", &cl);
    const char *txn = stamp_find_string(payload, end, "txn", &tl);
    msg_stamp st;
    publisher *p;
    slot *s;

    count_error(lg, code ? code : "?", code ? cl : 1);
    if (txn == NULL || (p = stamp_publisher(lg, txn, tl, &st)) == NULL ||
        (s = find_slot(p, st.seq)) == NULL)
        return;
    lg->c.refused++;
    if (s->remaining > 0) {
        lg->c.expected -= (uint64_t)s->remaining;
        s->remaining = 0;
    }
    s->acked = 1;
    advance_tails(p);
}

static void on_inbox_message(loadgen *lg, const char *payload, size_t len)
{
    const char *p = payload, *end = payload + len, *txn;
    size_t tl;
    uint64_t now = now_us();

    switch (stamp_inbox_kind(payload, len)) {
    case INBOX_ACK:
        /* One ack, or {"type":"ack","items":[{...,"txn":...},...]}. */
        lg->c.ack_messages++;
        while ((txn = stamp_find_string(p, end, "txn", &tl)) != NULL) {
            on_ack(lg, txn, tl, now);
            p = txn + tl;
        }
        break;
    case INBOX_ERROR:
        on_refusal(lg, payload, len);
        break;
    default:
        lg->c.inbox_other++;
        break;
    }
}

/* ---------------------------------------------------------------- callbacks */

static void cb_connect(struct mosquitto *mosq, void *obj, int rc)
{
    client *c = obj;
    loadgen *lg = c->lg;
    const plan_client *pc = c->pc;
    uint64_t now = now_us();
    char *topics[1024];
    int n = 0;

    c->callbacks++;
    if (rc != 0) {
        fail_client(c, "connection refused", mosquitto_connack_string(rc));
        return;
    }
    histogram_record(&lg->connect_lat, now - c->connect_start_us);
    for (size_t i = 0; i < pc->n_subs && n < 1023; i++)
        topics[n++] = lg->plan.topics[pc->subs[i]];
    if (pc->inbox >= 0)
        topics[n++] = lg->plan.topics[pc->inbox];
    if (n == 0) {
        c->state = CLIENT_READY;
        lg->in_progress--;
        lg->n_ready++;
        lg->connect_last_us = now;
        return;
    }
    c->state = CLIENT_SUBSCRIBING;
    rc = mosquitto_subscribe_multiple(mosq, NULL, n, topics, lg->opt.qos, 0,
                                      NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        fail_client(c, "subscribe", mosquitto_strerror(rc));
}

static void cb_subscribe(struct mosquitto *mosq, void *obj, int mid, int count,
                         const int *granted)
{
    client *c = obj;
    loadgen *lg = c->lg;

    (void)mosq;
    (void)mid;
    c->callbacks++;
    for (int i = 0; i < count; i++) {
        if (granted[i] >= 0x80) {
            fail_client(c, "subscribe", "subscription refused");
            return;
        }
    }
    if (c->state == CLIENT_SUBSCRIBING) {
        c->state = CLIENT_READY;
        lg->in_progress--;
        lg->n_ready++;
        lg->connect_last_us = now_us();
    }
}

static void cb_publish(struct mosquitto *mosq, void *obj, int mid,
                       int reason, const mosquitto_property *props)
{
    client *c = obj;

    (void)mosq;
    (void)mid;
    (void)props;
    c->callbacks++;
    if (c->pub != NULL && c->pub->mqtt_inflight > 0)
        c->pub->mqtt_inflight--;
    if (reason >= 0x80) {
        c->lg->c.refused_puback++;
    } else {
        c->lg->c.accepted++;
        if (in_window(c->lg, now_us()))
            c->lg->c.accepted_window++;
    }
}

static void cb_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *m)
{
    client *c = obj;

    (void)mosq;
    c->callbacks++;
    if (m->payload == NULL || m->payloadlen <= 0)
        return;
    if (strncmp(m->topic, "user/", 5) == 0)
        on_inbox_message(c->lg, m->payload, (size_t)m->payloadlen);
    else
        on_chat_message(c->lg, m->payload, (size_t)m->payloadlen);
}

static void cb_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    client *c = obj;

    (void)mosq;
    c->callbacks++;
    if (c->closing || c->state == CLIENT_FAILED) {
        c->state = CLIENT_CLOSED;
        return;
    }
    c->lg->c.disconnects++;
    fail_client(c, "connection lost", mosquitto_strerror(rc));
}

/* ---------------------------------------------------------------- clients */

static int client_connect(client *c)
{
    loadgen *lg = c->lg;
    const plan_client *pc = c->pc;
    int rc;

    c->mosq = mosquitto_new(pc->client_id, true, c);
    if (c->mosq == NULL) {
        fail_client(c, "mosquitto_new", strerror(errno));
        return -1;
    }
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, lg->opt.protocol);
    mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    /* Our own windows bound what is in flight; libmosquitto should not
     * hold publishes back at its default of 20. */
    mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, 0);
    if (pc->username != NULL || pc->password != NULL)
        mosquitto_username_pw_set(c->mosq, pc->username, pc->password);
    mosquitto_connect_callback_set(c->mosq, cb_connect);
    mosquitto_subscribe_callback_set(c->mosq, cb_subscribe);
    mosquitto_publish_v5_callback_set(c->mosq, cb_publish);
    mosquitto_message_callback_set(c->mosq, cb_message);
    mosquitto_disconnect_callback_set(c->mosq, cb_disconnect);

    c->state = CLIENT_CONNECTING;
    lg->in_progress++;
    c->connect_start_us = now_us();
    if (lg->connect_first_us == 0)
        lg->connect_first_us = c->connect_start_us;
    rc = mosquitto_connect_async(c->mosq, lg->opt.host, lg->opt.port,
                                 lg->opt.keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        fail_client(c, "connect",
                    rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                         : mosquitto_strerror(rc));
        return -1;
    }
    client_sync(c);
    return 0;
}

static void client_read(client *c)
{
    for (int i = 0; i < READ_BURST && c->fd >= 0; i++) {
        uint64_t before = c->callbacks;
        int rc = mosquitto_loop_read(c->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            if (c->state != CLIENT_FAILED && c->state != CLIENT_CLOSED)
                fail_client(c, "read", mosquitto_strerror(rc));
            break;
        }
        if (mosquitto_socket(c->mosq) < 0 || c->callbacks == before)
            break; /* closed, or no complete packet: wait for epoll */
    }
    client_sync(c);
}

static void client_write(client *c)
{
    int rc = mosquitto_loop_write(c->mosq, 1);

    if (rc != MOSQ_ERR_SUCCESS && c->state != CLIENT_FAILED &&
        c->state != CLIENT_CLOSED)
        fail_client(c, "write", mosquitto_strerror(rc));
    client_sync(c);
}

static void clients_misc(loadgen *lg)
{
    for (size_t i = 0; i < lg->n_clients; i++) {
        client *c = &lg->clients[i];
        if (c->fd >= 0) {
            mosquitto_loop_misc(c->mosq);
            client_sync(c);
        }
    }
}

/* Waits for events at most timeout_us and handles them. */
static void loop_once(loadgen *lg, uint64_t timeout_us)
{
    struct epoll_event ev[MAX_EVENTS];
    struct timespec ts = {(time_t)(timeout_us / 1000000u),
                          (long)(timeout_us % 1000000u) * 1000};
    int n = epoll_pwait2(lg->epfd, ev, MAX_EVENTS, &ts, NULL);

    for (int i = 0; i < n; i++) {
        client *c = ev[i].data.ptr;
        if (c == NULL) { /* stdin */
            char buf[256];
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r <= 0 && !(r < 0 && errno == EINTR)) {
                lg->stdin_closed = true;
                epoll_ctl(lg->epfd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
            }
            continue;
        }
        if (c->fd < 0)
            continue;
        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            client_read(c);
        if (c->fd >= 0 && (ev[i].events & EPOLLOUT))
            client_write(c);
    }
}

/* Connects every client, at most --concurrency at a time, until all are
 * ready or failed or the timeout passes.  Returns 0 if all are ready. */
static int connect_all(loadgen *lg)
{
    uint64_t deadline = now_us() + seconds_us(lg->opt.connect_timeout_s);
    uint64_t next_misc = now_us() + MISC_EVERY_US;

    while (lg->n_ready + lg->n_failed < lg->n_clients) {
        while (lg->next_to_connect < lg->n_clients &&
               lg->in_progress < lg->opt.concurrency)
            client_connect(&lg->clients[lg->next_to_connect++]);
        uint64_t now = now_us();
        if (now >= deadline) {
            if (lg->failure[0] == '\0')
                snprintf(lg->failure, sizeof lg->failure,
                         "%zu of %zu clients not ready after %.0f s",
                         lg->n_clients - lg->n_ready, lg->n_clients,
                         lg->opt.connect_timeout_s);
            return -1;
        }
        if (now >= next_misc) {
            clients_misc(lg);
            next_misc = now + MISC_EVERY_US;
        }
        loop_once(lg, 10000);
    }
    return lg->n_failed == 0 ? 0 : -1;
}

static void disconnect_all(loadgen *lg)
{
    uint64_t deadline = now_us() + 3000000u;
    size_t open = 0;

    for (size_t i = 0; i < lg->n_clients; i++) {
        client *c = &lg->clients[i];
        if (c->fd >= 0) {
            c->closing = true;
            mosquitto_disconnect(c->mosq);
            client_sync(c);
        }
    }
    do {
        open = 0;
        for (size_t i = 0; i < lg->n_clients; i++)
            open += lg->clients[i].fd >= 0;
        if (open > 0)
            loop_once(lg, 10000);
    } while (open > 0 && now_us() < deadline);
    for (size_t i = 0; i < lg->n_clients; i++) {
        if (lg->clients[i].mosq != NULL)
            mosquitto_destroy(lg->clients[i].mosq);
        lg->clients[i].mosq = NULL;
        lg->clients[i].fd = -1;
    }
}

/* ---------------------------------------------------------------- publishing */

static void publish_one(loadgen *lg, publisher *p, uint64_t stamp_us)
{
    client *c = p->client;
    const plan_client *pc = c->pc;
    size_t topic = pc->pubs[p->next_topic++ % pc->n_pubs];
    msg_stamp st = {p->index, p->next_seq, stamp_us};
    char txn[STAMP_TXN_MAX + 1];
    slot *s;
    int len, rc;

    if (stamp_txn_format(txn, sizeof txn, lg->opt.run_id, &st) < 0 ||
        (len = stamp_payload_format(lg->payload, sizeof lg->payload, txn,
                                    lg->opt.body_chars)) < 0)
        return; /* cannot happen: options are checked */
    s = &p->slots[p->next_seq & (p->ring - 1)];
    s->sent_us = stamp_us;
    s->remaining = (int32_t)lg->plan.subscribers[topic];
    s->acked = pc->inbox >= 0 ? 0 : 1;
    s->deliv_expired = s->ack_expired = 0;
    p->next_seq++;
    lg->c.sent++;
    lg->c.expected += (uint64_t)s->remaining;
    if (in_window(lg, stamp_us))
        lg->c.sent_window++;
    /* Counted first: for QoS 0 the callback runs inside the call. */
    p->mqtt_inflight++;
    rc = mosquitto_publish(c->mosq, NULL, lg->plan.topics[topic], len,
                           lg->payload, lg->opt.qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        p->mqtt_inflight--;
        lg->c.publish_failed++;
        lg->c.expected -= (uint64_t)s->remaining;
        s->remaining = 0;
        s->acked = 1;
    }
    if (s->remaining == 0 || s->acked)
        advance_tails(p);
    client_sync(c);
}

static bool publisher_may_send(const loadgen *lg, const publisher *p)
{
    const client *c = p->client;

    if (c->state != CLIENT_READY || c->fd < 0)
        return false;
    /* Flat out still respects TCP: nothing more while the socket is full. */
    if (c->out_registered)
        return false;
    return p->mqtt_inflight < lg->opt.window &&
           p->next_seq - p->tail_deliv < lg->opt.window &&
           p->next_seq - p->tail_ack < lg->opt.ack_window;
}

/* Flat out: every publisher sends while its windows allow, a bounded burst
 * per turn so that the loop gets back to reading acks and deliveries. */
static void publish_saturating(loadgen *lg, uint64_t now)
{
    for (size_t i = 0; i < lg->n_pubs; i++) {
        publisher *p = &lg->pubs[i];
        for (int n = 0; n < PUBLISH_BURST && publisher_may_send(lg, p); n++)
            publish_one(lg, p, now);
    }
}

/* Open loop: sends every message that is due, each stamped with the time
 * it was due.  A publisher whose ring is full gives up on its oldest
 * message (counted lost or unacked) rather than hold the schedule back. */
static void publish_due(loadgen *lg, uint64_t now)
{
    for (int n = 0; n < RATE_BATCH_MAX; n++) {
        uint64_t due = lg->t_start +
                       (uint64_t)((double)lg->rate_k * lg->rate_interval_us);
        if (due > now || due >= lg->t_end)
            return;
        publisher *p = &lg->pubs[lg->rate_k % lg->n_pubs];
        lg->rate_k++;
        if (p->client->state != CLIENT_READY)
            continue;
        uint64_t oldest = p->tail_deliv < p->tail_ack ? p->tail_deliv
                                                      : p->tail_ack;
        if (p->next_seq - oldest >= p->ring)
            expire(lg, p, now, true);
        publish_one(lg, p, due);
    }
}

static uint64_t next_due(const loadgen *lg)
{
    return lg->t_start +
           (uint64_t)((double)lg->rate_k * lg->rate_interval_us);
}

static bool all_settled(const loadgen *lg)
{
    for (size_t i = 0; i < lg->n_pubs; i++) {
        const publisher *p = &lg->pubs[i];
        if (p->tail_deliv < p->next_seq || p->tail_ack < p->next_seq ||
            p->mqtt_inflight > 0)
            return false;
    }
    return true;
}

static void sweep(loadgen *lg, uint64_t now)
{
    for (size_t i = 0; i < lg->n_pubs; i++)
        expire(lg, &lg->pubs[i], now, false);
}

static void flow(loadgen *lg)
{
    uint64_t now = now_us(), next_sweep, next_misc, next_report, drain_end;
    bool window_open = false;

    lg->t_start = now;
    lg->t_warm = now + seconds_us(lg->opt.warmup_s);
    lg->t_end = lg->t_warm + seconds_us(lg->opt.duration_s);
    drain_end = lg->t_end + seconds_us(lg->opt.drain_s);
    next_sweep = now + SWEEP_EVERY_US;
    next_misc = now + MISC_EVERY_US;
    next_report = now + 1000000u;
    lg->sending = true;
    for (;;) {
        uint64_t timeout = 5000;
        now = now_us();
        if (!window_open && now >= lg->t_warm) {
            cpu_probe_start(&lg->broker_cpu, lg->opt.broker_pid, false);
            cpu_probe_start(&lg->db_cpu, lg->opt.db_pid, true);
            lg->self_cpu0_us = self_cpu_us();
            window_open = true;
        }
        if (lg->sending && now >= lg->t_end) {
            cpu_probe_stop(&lg->broker_cpu);
            cpu_probe_stop(&lg->db_cpu);
            lg->self_cpu1_us = self_cpu_us();
            proc_memory_kb(lg->opt.broker_pid, &lg->broker_rss_kb,
                           &lg->broker_hwm_kb);
            lg->sending = false;
        }
        if (lg->sending) {
            if (lg->opt.rate > 0) {
                publish_due(lg, now);
                uint64_t due = next_due(lg);
                timeout = due > now_us() ? due - now_us() : 0;
            } else {
                publish_saturating(lg, now);
            }
            uint64_t until_end = lg->t_end > now ? lg->t_end - now : 0;
            if (!window_open && lg->t_warm - now < timeout)
                timeout = lg->t_warm - now;
            if (until_end < timeout)
                timeout = until_end;
        } else if (all_settled(lg) || now >= drain_end) {
            break;
        }
        if (now >= next_sweep) {
            sweep(lg, now);
            next_sweep = now + SWEEP_EVERY_US;
        }
        if (now >= next_misc) {
            clients_misc(lg);
            next_misc = now + MISC_EVERY_US;
        }
        if (lg->opt.verbose && now >= next_report) {
            uint64_t inflight = 0;
            for (size_t i = 0; i < lg->n_pubs; i++)
                inflight += lg->pubs[i].next_seq - lg->pubs[i].tail_deliv;
            fprintf(stderr,
                    "loadgen: t=%.1fs sent=%" PRIu64 " delivered=%" PRIu64
                    " in flight=%" PRIu64 " acks=%" PRIu64 " lost=%" PRIu64
                    " refused=%" PRIu64 "\n",
                    (double)(now - lg->t_start) / 1e6, lg->c.sent,
                    lg->c.delivered, inflight, lg->c.acks, lg->c.lost,
                    lg->c.refused);
            next_report = now + 1000000u;
        }
        loop_once(lg, timeout);
    }
    /* What is still outstanding after the drain is lost or unacked. */
    for (size_t i = 0; i < lg->n_pubs; i++) {
        publisher *p = &lg->pubs[i];
        while (p->tail_deliv < p->next_seq || p->tail_ack < p->next_seq)
            expire(lg, p, UINT64_MAX / 2, true);
    }
}

/* ---------------------------------------------------------------- report */

static void print_histogram(FILE *out, const char *name,
                            const latency_histogram *h)
{
    fprintf(out,
            "\"%s\":{\"count\":%" PRIu64 ",\"mean\":%.1f,\"p50\":%" PRIu64
            ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
            ",\"max\":%" PRIu64 "}",
            name, h->total, histogram_mean(h), histogram_percentile(h, 50),
            histogram_percentile(h, 90), histogram_percentile(h, 99),
            histogram_percentile(h, 99.9), h->total ? h->max_us : 0);
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void report(loadgen *lg, FILE *out)
{
    const counters *k = &lg->c;
    double window = lg->opt.duration_s;
    uint64_t bcpu = cpu_probe_us(lg, &lg->broker_cpu);
    uint64_t dcpu = cpu_probe_us(lg, &lg->db_cpu);

    fprintf(out, "{\"mode\":\"%s\",\"clients\":%zu,\"ready\":%zu,\"failed\":%zu,",
            lg->opt.mode == MODE_FLOW ? "flow" : "connect", lg->n_clients,
            lg->n_ready, lg->n_failed);
    fprintf(out, "\"error\":");
    if (lg->failure[0])
        json_string(out, lg->failure);
    else
        fputs("null", out);
    if (lg->opt.mode == MODE_CONNECT) {
        double secs = (double)(lg->connect_last_us - lg->connect_first_us) / 1e6;
        /* CLOCK_MONOTONIC is the same in every process, so the
         * orchestrator can join several load generators' spans. */
        fprintf(out,
                ",\"connect_first_us\":%" PRIu64 ",\"connect_last_us\":%" PRIu64
                ",\"connect_s\":%.3f,\"connects_per_s\":%.1f,",
                lg->connect_first_us, lg->connect_last_us, secs,
                secs > 0 ? (double)lg->n_ready / secs : 0.0);
        print_histogram(out, "connect_us", &lg->connect_lat);
        fprintf(out, ",\"broker_cpu_us\":%" PRIu64, bcpu);
    } else {
        fprintf(out,
                ",\"qos\":%d,\"rate\":%.1f,\"window_s\":%.3f,\"publishers\":%zu"
                ",\"sent\":%" PRIu64 ",\"sent_window\":%" PRIu64
                ",\"accepted\":%" PRIu64 ",\"refused_puback\":%" PRIu64
                ",\"publish_failed\":%" PRIu64 ",\"expected\":%" PRIu64
                ",\"delivered\":%" PRIu64 ",\"delivered_window\":%" PRIu64
                ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"foreign\":%" PRIu64
                ",\"acks\":%" PRIu64 ",\"acks_late\":%" PRIu64
                ",\"acks_dup\":%" PRIu64 ",\"unacked\":%" PRIu64
                ",\"ack_messages\":%" PRIu64
                ",\"refused\":%" PRIu64 ",\"disconnects\":%" PRIu64,
                lg->opt.qos, lg->opt.rate, window, lg->n_pubs, k->sent,
                k->sent_window, k->accepted, k->refused_puback,
                k->publish_failed, k->expected, k->delivered,
                k->delivered_window, k->lost, k->late, k->duplicates,
                k->foreign, k->acks, k->acks_late, k->acks_dup, k->unacked,
                k->ack_messages, k->refused, k->disconnects);
        fprintf(out,
                ",\"accepted_window\":%" PRIu64
                ",\"accept_per_s\":%.1f,\"publish_per_s\":%.1f"
                ",\"deliver_per_s\":%.1f,",
                k->accepted_window,
                window > 0 ? (double)k->accepted_window / window : 0.0,
                window > 0 ? (double)k->sent_window / window : 0.0,
                window > 0 ? (double)k->delivered_window / window : 0.0);
        print_histogram(out, "latency_us", &lg->lat);
        fputc(',', out);
        print_histogram(out, "ack_latency_us", &lg->ack_lat);
        fprintf(out, ",\"errors\":{");
        for (size_t i = 0; i < lg->n_errors; i++) {
            if (i)
                fputc(',', out);
            json_string(out, lg->errors[i].code);
            fprintf(out, ":%" PRIu64, lg->errors[i].n);
        }
        fprintf(out, "},\"broker_cpu_us\":%" PRIu64 ",\"db_cpu_us\":%" PRIu64
                     ",\"db_processes\":%zu",
                bcpu, dcpu, lg->db_cpu.n);
        fprintf(out, ",\"loadgen_cpu_us\":%" PRIu64,
                lg->self_cpu1_us - lg->self_cpu0_us);
        fprintf(out, ",\"broker_cpu_us_per_msg\":%.2f",
                k->delivered_window ? (double)bcpu / (double)k->delivered_window
                                    : 0.0);
    }
    fprintf(out, ",\"broker_rss_kb\":%ld,\"broker_hwm_kb\":%ld}\n",
            lg->broker_rss_kb, lg->broker_hwm_kb);
    fflush(out);
}

/* ---------------------------------------------------------------- setup */

static void usage(FILE *out)
{
    fputs(
        "usage: parley-loadgen --plan FILE --port N [options]\n"
        "  --mode flow|connect   (flow)\n"
        "  --host ADDR           broker address (127.0.0.1)\n"
        "  --qos 0|1             publish and subscribe QoS (1)\n"
        "  --mqtt5               speak MQTT v5 (default 3.1.1)\n"
        "  --rate R              total messages/s; 0 = flat out (0)\n"
        "  --window W            flat out: messages per publisher not yet\n"
        "                        delivered everywhere, and not yet PUBACKed (50)\n"
        "  --ack-window W        flat out: messages per publisher not yet\n"
        "                        acked, for plan clients with an inbox (1000)\n"
        "  --warmup S --duration S --drain S   phases in seconds (1, 5, 10)\n"
        "  --loss-timeout S      undelivered this long = lost (2)\n"
        "  --ack-timeout S       unacked this long = unacked (10)\n"
        "  --body N              characters of body (100)\n"
        "  --run-id ID           [A-Za-z0-9]{1,16}, new for every run\n"
        "  --broker-pid P        sample its CPU and memory\n"
        "  --db-pid P            sample the CPU of P and its children\n"
        "  --concurrency N       connects in progress at once (256)\n"
        "  --connect-timeout S   (60)\n"
        "  --hold                connect mode: print, then hold the\n"
        "                        connections until stdin closes\n"
        "  --require-delivery    exit 3 if nothing was delivered\n"
        "  -v, --verbose\n",
        out);
}

static int parse_double(const char *s, double min, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v >= min))
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"plan", required_argument, NULL, 'p'},
        {"mode", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'P'},
        {"qos", required_argument, NULL, 'q'},
        {"mqtt5", no_argument, NULL, '5'},
        {"rate", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"ack-window", required_argument, NULL, 'a'},
        {"warmup", required_argument, NULL, 'W'},
        {"duration", required_argument, NULL, 'd'},
        {"drain", required_argument, NULL, 'D'},
        {"loss-timeout", required_argument, NULL, 'l'},
        {"ack-timeout", required_argument, NULL, 'A'},
        {"body", required_argument, NULL, 'b'},
        {"run-id", required_argument, NULL, 'i'},
        {"broker-pid", required_argument, NULL, 'B'},
        {"db-pid", required_argument, NULL, 'G'},
        {"concurrency", required_argument, NULL, 'c'},
        {"connect-timeout", required_argument, NULL, 'T'},
        {"hold", no_argument, NULL, 'h'},
        {"require-delivery", no_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, '?'},
        {NULL, 0, NULL, 0},
    };
    unsigned port = 0, qos = 1;
    double pid;
    int ch;

    memset(o, 0, sizeof *o);
    o->mode = MODE_FLOW;
    o->host = "127.0.0.1";
    o->run_id = "run";
    o->qos = 1;
    o->protocol = MQTT_PROTOCOL_V311;
    o->keepalive = 60;
    o->warmup_s = 1;
    o->duration_s = 5;
    o->drain_s = 10;
    o->loss_timeout_s = 2;
    o->ack_timeout_s = 10;
    o->connect_timeout_s = 60;
    o->window = 50;
    o->ack_window = 1000;
    o->body_chars = 100;
    o->concurrency = 256;
    while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'p': o->plan_path = optarg; break;
        case 'm':
            if (strcmp(optarg, "flow") == 0)
                o->mode = MODE_FLOW;
            else if (strcmp(optarg, "connect") == 0)
                o->mode = MODE_CONNECT;
            else
                bad = 1;
            break;
        case 'H': o->host = optarg; break;
        case 'P': bad = parse_uint(optarg, 1, 65535, &port); break;
        case 'q': bad = parse_uint(optarg, 0, 1, &qos); break;
        case '5': o->protocol = MQTT_PROTOCOL_V5; break;
        case 'r': bad = parse_double(optarg, 0, &o->rate); break;
        case 'w': bad = parse_uint(optarg, 1, 1u << 20, &o->window); break;
        case 'a': bad = parse_uint(optarg, 1, 1u << 20, &o->ack_window); break;
        case 'W': bad = parse_double(optarg, 0, &o->warmup_s); break;
        case 'd': bad = parse_double(optarg, 0.1, &o->duration_s); break;
        case 'D': bad = parse_double(optarg, 0, &o->drain_s); break;
        case 'l': bad = parse_double(optarg, 0.01, &o->loss_timeout_s); break;
        case 'A': bad = parse_double(optarg, 0.01, &o->ack_timeout_s); break;
        case 'b': bad = parse_uint(optarg, 0, 60000, &o->body_chars); break;
        case 'i': o->run_id = optarg; bad = !stamp_run_valid(optarg); break;
        case 'B':
            bad = parse_double(optarg, 1, &pid);
            o->broker_pid = (long)pid;
            break;
        case 'G':
            bad = parse_double(optarg, 1, &pid);
            o->db_pid = (long)pid;
            break;
        case 'c': bad = parse_uint(optarg, 1, 100000, &o->concurrency); break;
        case 'T': bad = parse_double(optarg, 1, &o->connect_timeout_s); break;
        case 'h': o->hold = true; break;
        case 'R': o->require_delivery = true; break;
        case 'v': o->verbose = true; break;
        default: usage(stderr); return -1;
        }
        if (bad) {
            fprintf(stderr, "parley-loadgen: bad option value: %s\n", optarg);
            return -1;
        }
    }
    if (optind != argc || o->plan_path == NULL || port == 0) {
        usage(stderr);
        return -1;
    }
    o->port = (int)port;
    o->qos = (int)qos;
    return 0;
}

static uint64_t next_pow2(uint64_t v)
{
    uint64_t r = 64;

    while (r < v && r < (1ull << 22))
        r <<= 1;
    return r;
}

static int setup(loadgen *lg)
{
    char err[256];
    FILE *f = fopen(lg->opt.plan_path, "r");
    struct rlimit rl;
    uint64_t ring;
    double per_pub;

    if (f == NULL) {
        fprintf(stderr, "parley-loadgen: %s: %s\n", lg->opt.plan_path,
                strerror(errno));
        return -1;
    }
    if (plan_read(f, &lg->plan, err, sizeof err) != 0) {
        fclose(f);
        fprintf(stderr, "parley-loadgen: %s: %s\n", lg->opt.plan_path, err);
        return -1;
    }
    fclose(f);
    lg->n_clients = lg->plan.n_clients;
    lg->n_pubs = plan_publishers(&lg->plan);
    if (lg->n_clients == 0) {
        fprintf(stderr, "parley-loadgen: the plan has no clients\n");
        return -1;
    }
    if (lg->opt.mode == MODE_FLOW && lg->n_pubs == 0) {
        fprintf(stderr, "parley-loadgen: the plan has no publishers\n");
        return -1;
    }
    /* libmosquitto takes three descriptors per client (its socket and a
     * socket pair to wake a threaded loop). */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < 3 * lg->n_clients + 64)
        fprintf(stderr,
                "parley-loadgen: warning: %zu clients need about %zu file "
                "descriptors; the limit is %llu (raise it with ulimit -n)\n",
                lg->n_clients, 3 * lg->n_clients + 64,
                (unsigned long long)rl.rlim_cur);

    lg->clients = calloc(lg->n_clients, sizeof *lg->clients);
    lg->pubs = calloc(lg->n_pubs ? lg->n_pubs : 1, sizeof *lg->pubs);
    if (lg->clients == NULL || lg->pubs == NULL)
        return -1;
    per_pub = lg->opt.rate > 0 ? lg->opt.rate / (double)lg->n_pubs : 0;
    ring = lg->opt.window > lg->opt.ack_window ? lg->opt.window
                                                : lg->opt.ack_window;
    if (per_pub * (lg->opt.loss_timeout_s + lg->opt.ack_timeout_s) >
        (double)ring)
        ring = (uint64_t)(per_pub *
                          (lg->opt.loss_timeout_s + lg->opt.ack_timeout_s));
    ring = next_pow2(ring + 1);
    size_t np = 0;
    for (size_t i = 0; i < lg->n_clients; i++) {
        client *c = &lg->clients[i];
        c->lg = lg;
        c->pc = &lg->plan.clients[i];
        c->fd = -1;
        if (c->pc->n_pubs > 0) {
            publisher *p = &lg->pubs[np];
            p->client = c;
            p->index = (uint32_t)np;
            p->ring = ring;
            p->slots = calloc(ring, sizeof *p->slots);
            if (p->slots == NULL)
                return -1;
            c->pub = p;
            np++;
        }
    }
    if (lg->opt.rate > 0)
        lg->rate_interval_us = 1e6 / lg->opt.rate;
    histogram_init(&lg->lat);
    histogram_init(&lg->ack_lat);
    histogram_init(&lg->connect_lat);
    lg->broker_rss_kb = lg->broker_hwm_kb = -1;
    lg->clk_tck = sysconf(_SC_CLK_TCK);
    if (lg->clk_tck <= 0)
        lg->clk_tck = 100;
    lg->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lg->epfd < 0) {
        perror("parley-loadgen: epoll_create1");
        return -1;
    }
    return 0;
}

static void teardown(loadgen *lg)
{
    if (lg->pubs != NULL)
        for (size_t i = 0; i < lg->n_pubs; i++)
            free(lg->pubs[i].slots);
    free(lg->pubs);
    free(lg->clients);
    plan_free(&lg->plan);
    if (lg->epfd > 0)
        close(lg->epfd);
}

static int run_connect_mode(loadgen *lg)
{
    int rc;

    cpu_probe_start(&lg->broker_cpu, lg->opt.broker_pid, false);
    rc = connect_all(lg);
    cpu_probe_stop(&lg->broker_cpu);
    proc_memory_kb(lg->opt.broker_pid, &lg->broker_rss_kb, &lg->broker_hwm_kb);
    report(lg, stdout);
    if (rc == 0 && lg->opt.hold) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        uint64_t next_misc = now_us() + MISC_EVERY_US;
        if (epoll_ctl(lg->epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0)
            lg->stdin_closed = true;
        while (!lg->stdin_closed) {
            if (now_us() >= next_misc) {
                clients_misc(lg);
                next_misc = now_us() + MISC_EVERY_US;
            }
            loop_once(lg, 100000);
        }
        if (lg->n_failed > 0) {
            fprintf(stderr, "parley-loadgen: %s\n", lg->failure);
            rc = -1;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    static loadgen lg; /* large (payload buffer, histograms): not on the stack */
    int rc, status = 0;

    if (parse_options(argc, argv, &lg.opt) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    if (setup(&lg) != 0) {
        teardown(&lg);
        mosquitto_lib_cleanup();
        return 2;
    }
    if (lg.opt.mode == MODE_CONNECT) {
        rc = run_connect_mode(&lg);
        status = rc == 0 ? 0 : 1;
    } else {
        rc = connect_all(&lg);
        if (rc == 0) {
            flow(&lg);
            if (lg.n_failed > 0)
                status = 1;
        } else {
            status = 1;
        }
        report(&lg, stdout);
        if (status == 0 && lg.opt.require_delivery && lg.c.delivered == 0)
            status = 3;
    }
    if (status == 1 && lg.failure[0])
        fprintf(stderr, "parley-loadgen: %s\n", lg.failure);
    disconnect_all(&lg);
    teardown(&lg);
    mosquitto_lib_cleanup();
    return status;
}
