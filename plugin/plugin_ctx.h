/*
 * plugin_ctx.h - the Parley broker plugin's context and the interface
 * between its files.
 *
 * One parley_ctx is the userdata of every callback.  Threads: mosquitto calls
 * every callback on its main thread; the writer thread (writer.c) stores
 * messages and the listener thread (listener.c) follows parley_events.  They
 * hand results back through the main queue (mainq.c), drained in the tick
 * callback, because the broker's API may be used on the main thread only.
 */
#ifndef PARLEY_PLUGIN_CTX_H
#define PARLEY_PLUGIN_CTX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "ids.h"
#include "limiter.h"
#include "sub_ledger.h"
#include "membership.h"
#include "presence.h"
#include "payload.h"
#include "recent_txn.h"
#include "user_flags.h"
#include "token.h"
#include "topic_acl.h"

struct parley_ctx;

/* ===== options.c: plugin_opt_* settings ===== */

typedef struct parley_options {
    char *database_url;
    char *jwt_secret_file;
    char *jwt_keys; /* "kid:ALG:/path.pem,..." */
    char *jwt_issuer;
    char *jwt_audience;
    long jwt_leeway;
    long node_id;
    char *spool_dir;
    long queue_max;
    long batch_max;
    long writer_linger_ms;
    long writer_nice;
    long spool_sync_ms;
    long max_body_chars;
    long max_payload;
    long rate_per_s;
    long rate_burst;
    long resubscribe_per_min;
    long resubscribe_burst;
    long presence_grace_ms;
} parley_options;

/* Fills defaults, then reads the options.  Unknown plugin_opt_ names,
 * malformed numbers and missing required options are refused: returns 0, or
 * -1 after logging why. */
int options_parse(parley_options *o, struct mosquitto_opt *opts, int count);
void options_free(parley_options *o);

/* ===== sessions.c: who is behind each connected client ===== */

typedef struct client_session client_session;

/* Records (or replaces) the session of a client that passed auth. */
int sessions_put(struct parley_ctx *ctx, const struct mosquitto *client,
                 const token_claims *claims);
/* The session of a connected client, or NULL. */
const client_session *sessions_get(struct parley_ctx *ctx,
                                   const struct mosquitto *client);
void sessions_remove(struct parley_ctx *ctx, const struct mosquitto *client);
void sessions_free_all(struct parley_ctx *ctx);
/* Disconnects every client whose token expired (beyond the leeway). */
void sessions_kick_expired(struct parley_ctx *ctx, int64_t now_s);
const uuid_bin *session_user(const client_session *s);
const char *session_user_str(const client_session *s);
bool session_is_admin(const client_session *s);
/* True once the connection is going away (taken over, or kicked). */
bool session_is_closing(const client_session *s);
const char *session_client_id(const client_session *s);
/* Disconnects the client with this id, or every client of this user (one
 * of the two NULL), without wills.  Every kick goes through here: the
 * broker re-checks a persistent session's filters while it kicks, which
 * acl.c must tell from a client's SUBSCRIBE (ctx->kicking). */
void sessions_kick(struct parley_ctx *ctx, const char *client_id,
                   const char *username);

/* ===== mainq.c: hand-off from worker threads to the main thread ===== */

typedef enum mainq_kind {
    MAINQ_PUBLISH,          /* publish payload on topic */
    MAINQ_MEMBERS_SNAPSHOT, /* replace the membership cache */
    MAINQ_MEMBER_SET,       /* one member added or role changed */
    MAINQ_MEMBER_REMOVE,    /* one member removed */
    MAINQ_SPOOL_DONE,       /* records of a spool segment are stored */
    MAINQ_USER_FLAGS,       /* a user's flags changed; maybe disconnect */
    MAINQ_RECENT_SEED,      /* stamps of the newest stored messages */
} mainq_kind;

/* Entries of the recent-txn table (ctx->recent). */
#define RECENT_TXN_CAPACITY 65536

/* One stored message's stamp, for the recent-txn table. */
typedef struct recent_stamp {
    uuid_bin sender;
    uint64_t id;
    int64_t ts_ms;
    char txn[PAYLOAD_TXN_MAX + 1];
} recent_stamp;

typedef struct mainq_item {
    mainq_kind kind;
    struct mainq_item *next;
    char *topic;   /* PUBLISH */
    char *payload; /* PUBLISH */
    size_t payload_len;
    int qos;
    membership_cache *snapshot; /* MEMBERS_SNAPSHOT */
    user_flags *flags_snapshot; /* MEMBERS_SNAPSHOT */
    uuid_bin conv, user;        /* MEMBER_*, USER_FLAGS (user) */
    user_flag_values flags;     /* USER_FLAGS */
    bool kick;                  /* USER_FLAGS: disconnect the user */
    member_role role;           /* MEMBER_SET */
    bool announce_only;         /* MEMBER_SET: the conversation is a channel */
    bool announce_known;        /* MEMBER_SET: announce_only was read */
    uint32_t segment;           /* SPOOL_DONE */
    uint32_t count;             /* SPOOL_DONE */
    recent_stamp *stamps;       /* RECENT_SEED, oldest first */
    size_t n_stamps;            /* RECENT_SEED */
} mainq_item;

typedef struct mainq {
    pthread_mutex_t lock;
    mainq_item *head, *tail;
    pthread_t main_thread;
    int wake_signal;
} mainq;

int mainq_init(mainq *q);
/* Appends item (taking ownership) and wakes the main thread if the queue was
 * empty.  Safe from any thread. */
void mainq_post(mainq *q, mainq_item *item);
/* Appends a list of items linked by next (taking ownership; NULL is
 * nothing) with at most one wake-up.  Safe from any thread. */
void mainq_post_list(mainq *q, mainq_item *items);
/* Convenience: posts a publish of a copy of payload. Returns 0 or -1. */
int mainq_post_publish(mainq *q, const char *topic, const char *payload,
                       size_t len);
/* Detaches everything queued, oldest first (main thread). */
mainq_item *mainq_take_all(mainq *q);
void mainq_item_free(mainq_item *item);
void mainq_destroy(mainq *q);
/* Starts a plugin thread with all signals blocked.  Returns 0 or -1. */
int plugin_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);
/* A condition variable whose timed waits count on CLOCK_MONOTONIC, which a
 * change of the wall clock does not move.  0 on success. */
int plugin_cond_init_monotonic(pthread_cond_t *cond);
/* Moves t ms milliseconds later. */
void timespec_add_ms(struct timespec *t, long ms);

/* ===== spool.c: the crash-safe local log of accepted messages ===== */

typedef struct spool spool;

/* Opens the spool directory; existing segments are kept for replay.  With
 * sync_ms > 0, what is appended is flushed to disk (fdatasync) by the
 * spool's thread at most that often. */
spool *spool_open(const char *dir, long sync_ms);
/* Appends one record (a rewritten message, no newline inside).  Returns the
 * segment it went to (>= 1), or 0 on failure. */
uint32_t spool_append(spool *s, const char *json, size_t len);
/* Marks count records of segment as stored; drops segments fully stored. */
void spool_release(spool *s, uint32_t segment, uint32_t count);
/* Waits until the segments released so far are deleted (for tests). */
void spool_wait_removals(spool *s);
/* How many flushes the spool's thread has done (for tests). */
uint64_t spool_syncs(spool *s);
/* Calls fn for every record left by an earlier run (before new appends). */
int spool_replay(spool *s,
                 int (*fn)(void *arg, uint32_t segment, const char *json,
                           size_t len),
                 void *arg);
void spool_close(spool *s);

/* ===== writer.c: the thread that stores messages ===== */

typedef struct writer writer;

typedef enum writer_kind {
    WRITE_MESSAGE,   /* a rewritten chat message */
    WRITE_RECEIPT,   /* a rewritten receipt */
    WRITE_LAST_SEEN, /* {"user","ts"} */
    WRITE_KIND_COUNT
} writer_kind;

writer *writer_start(struct parley_ctx *ctx);
/* Queues a record for storage (main thread).  Takes ownership of json
 * (malloc'd) on success.  segment is its spool segment, 0 if not spooled.
 * Returns 0, or -1 when the queue is full (unless force) or out of memory. */
int writer_enqueue(writer *w, writer_kind kind, char *json, size_t len,
                   uint32_t segment, bool force);
/* Messages queued and not yet stored. */
size_t writer_backlog(writer *w);
/* Stops the thread after storing what is queued (bounded wait). */
void writer_stop(writer *w);

/* ===== db_connect.c ===== */

/* A new connection to url with bounded connect time and keepalives (check
 * PQstatus).  Never call it on the main thread. */
struct pg_conn;
struct pg_conn *parley_db_connect(const char *url);
/* Prepares libpq for use from several threads (call before starting any). */
void parley_db_init(void);

/* ===== listener.c: the thread that follows parley_events ===== */

typedef struct listener listener;

listener *listener_start(struct parley_ctx *ctx);
void listener_stop(listener *l);

/* ===== presence_announce.c: retained user/{u}/presence ===== */

void presence_on_connect(struct parley_ctx *ctx, const uuid_bin *user);
void presence_on_disconnect(struct parley_ctx *ctx, const uuid_bin *user);
/* Announces users whose grace ran out as offline and stores last seen. */
void presence_on_tick(struct parley_ctx *ctx, int64_t now_ms);
/* Hides or shows an online user's presence after a settings change. */
void presence_on_flags(struct parley_ctx *ctx, const uuid_bin *user,
                       bool was_hidden, bool hidden);

/* ===== auth.c, acl.c, message.c, tick.c: broker callbacks ===== */

int parley_on_basic_auth(int event, void *event_data, void *userdata);
int parley_on_acl_check(int event, void *event_data, void *userdata);
int parley_on_message(int event, void *event_data, void *userdata);
int parley_on_tick(int event, void *event_data, void *userdata);
int parley_on_disconnect(int event, void *event_data, void *userdata);

/* Sends {"type":"error",...} to user/{u}/inbox (main thread). */
void notify_error(const char *user, const char *txn, const char *code,
                  const char *detail);

/* ===== the context ===== */

typedef struct parley_ctx {
    mosquitto_plugin_id_t *id;
    parley_options opt;
    token_verifier verifier;
    payload_limits limits;
    id_minter ids;
    membership_cache *members; /* main thread only */
    /* Set once the first snapshot of memberships and user flags is in
     * place (main thread only); until then connections are turned away. */
    bool members_loaded;
    /* The last RECENT_TXN_CAPACITY stamps given, seeded at start with the
     * newest stored messages (main thread only). */
    recent_txn *recent;
    user_flags *flags;         /* main thread only */
    presence *presence;        /* main thread only */
    limiter *message_limiter;  /* per user, main thread only */
    limiter *typing_limiter;   /* per user and conversation */
    /* Filters the broker holds per client id, and the per-user budget for
     * subscribing again to one of them (acl.c). */
    sub_ledger *subs;
    limiter *resubscribe_limiter;
    int64_t last_resubscribe_log_ms;
    /* Set by sessions_kick while the plugin kicks clients: the broker then
     * checks again every filter a persistent session holds (as
     * MOSQ_ACL_SUBSCRIBE) and drops those refused; no client is
     * subscribing (acl.c). */
    bool kicking;
    int64_t last_presence_scan_ms;
    int64_t last_prune_ms;
    client_session *sessions;  /* main thread only, by client pointer */
    client_session *sessions_by_id; /* main thread only, by client id */
    topic_memo topic_memo; /* main thread only: the last topic parsed */
    int64_t last_expiry_scan_s;
    mainq queue;
    bool queue_ready;
    spool *spool;
    writer *writer;
    listener *listener;
} parley_ctx;

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t parley_now_ms(void);

#endif
