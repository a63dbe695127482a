/*
 * db.h - PostgreSQL access for parley-api: one connection per worker thread,
 * opened lazily and reopened when it goes bad, and the named prepared
 * statements every query goes through (prepared once per connection, on
 * first use).  No SQL is ever built from values: parameters travel
 * separately, as text.
 */
#ifndef PARLEY_API_DB_H
#define PARLEY_API_DB_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum db_stmt {
    STMT_HEALTH,
    STMT_NOTIFY,
    STMT_EVENTS_FLUSH,
    /* users */
    STMT_USER_INSERT,
    STMT_USER_UPSERT,
    STMT_USER_LOGIN,
    STMT_USER_BY_ID,
    STMT_USER_PUBLIC,
    STMT_USERS_COUNT,
    STMT_USER_ME,
    STMT_USER_PASSWORD_HASH,
    STMT_USER_UPDATE,
    STMT_USER_AUTH,
    STMT_USER_REVOKE_TOKENS,
    /* sessions and refresh tokens */
    STMT_SESSION_INSERT,
    STMT_REFRESH_INSERT,
    STMT_REFRESH_LOCK,
    STMT_REFRESH_ROTATE,
    STMT_SESSION_TOUCH,
    STMT_SESSION_REVOKE,
    STMT_SESSION_REVOKE_BY_TOKEN,
    STMT_SESSIONS_REVOKE_USER,
    /* conversations and members */
    STMT_CONV_INSERT,
    STMT_CONV_BY_DIRECT_KEY,
    STMT_CONV_LIST,
    STMT_CONV_GET,
    STMT_CONV_MEMBERS_OF_USER,
    STMT_CONV_MEMBERS,
    STMT_CONV_LOCK_ACTOR,
    STMT_MEMBER_INSERT,
    STMT_MEMBERS_INSERT_MANY,
    STMT_MEMBER_ROLE,
    STMT_MEMBER_DELETE,
    STMT_MEMBER_SET_ROLE,
    STMT_OWNER_COUNT,
    STMT_MEMBER_SUCCESSOR,
    STMT_MEMBER_MUTE,
    STMT_MEMBER_UNMUTE,
    /* receipts */
    STMT_MSG_IN_CONV,
    STMT_RECEIPT_READ,
    /* messages */
    STMT_HISTORY_LATEST,
    STMT_HISTORY_BEFORE,
    STMT_HISTORY_AFTER,
    STMT_MSG_LOCK,
    STMT_MSG_EDIT,
    STMT_MSG_DELETE,
    /* sync */
    STMT_SYNC_HEAD,
    STMT_SYNC,
    /* moderation and admin (handlers_admin.h, handlers_reports.h) */
    STMT_MSG_HIDE,
    STMT_ADMIN_ROLE,
    STMT_USER_BAN_LOCK,
    STMT_USER_BAN,
    STMT_USER_UNBAN,
    STMT_MSG_ADMIN_LOCK,
    STMT_AUDIT_INSERT,
    STMT_AUDIT_LIST,
    STMT_ADMIN_STATS,
    STMT_REPORT_INSERT,
    STMT_REPORTS_LIST,
    STMT_REPORT_LOCK,
    STMT_REPORT_SET_STATUS,
    STMT_COUNT
} db_stmt;

/* The columns of STMT_USER_AUTH for the user of a bearer token (bearer.h):
 * tokens_valid_after in whole seconds (0 for never) and whether a ban
 * lasts; no row when the account does not exist.  The history statements
 * carry the same columns first, for the user $2, with the page after
 * them: they check the account in the same round trip. */
#define USER_AUTH_COL_VALID_AFTER 0
#define USER_AUTH_COL_BANNED 1
#define USER_AUTH_NCOLS 2
/* STMT_HISTORY_*: the reply's JSON text, NULL when $2 may not read
 * conversation $1 (not a member, or no such conversation). */
#define HISTORY_COL_PAGE USER_AUTH_NCOLS

/* A connection and which statements it has prepared. */
typedef struct db_conn db_conn;

/* The per-thread connections of the server. */
typedef struct db_pool {
    const char *conninfo; /* not owned */
    pthread_key_t key;    /* this thread's db_conn, closed at thread exit */
    bool key_created;
} db_pool;

/* Sets up a pool for conninfo (a libpq connection string or URI, which
 * must outlive the pool).  Connects nothing.  Returns 0, or -1. */
int db_pool_init(db_pool *p, const char *conninfo);

/* Releases the pool.  Connections of threads that have exited were closed
 * by the thread-exit destructor; call this after the worker threads are
 * gone.  Accepts a pool that was never initialised (zeroed). */
void db_pool_destroy(db_pool *p);

/* Returns the calling thread's connection, opening or reopening it as
 * needed, with no transaction open.  NULL (logged) if the database cannot
 * be reached.  The connection belongs to the thread: do not close it. */
db_conn *db_pool_acquire(db_pool *p);

/* Opens a standalone connection (the CLI commands).  NULL on failure, with
 * libpq's message logged.  Close with db_conn_close. */
db_conn *db_conn_open(const char *conninfo);

/* Closes a connection.  Accepts NULL. */
void db_conn_close(db_conn *c);

/* The libpq connection, for the few plain commands (migrations). */
PGconn *db_conn_pg(db_conn *c);

/* Runs a prepared statement with n text parameters (NULL is SQL NULL).
 * Returns the result (PQclear it) when the statement succeeded, or NULL:
 * then db_failed_with tells the SQLSTATE.  Failures are logged, except
 * integrity violations (class 23) which callers turn into answers.  Outside
 * a transaction, a statement that fails because the connection dropped is
 * retried once on a new connection. */
PGresult *db_exec(db_conn *c, db_stmt s, const char *const *params, int n);

#define DB_EXEC(c, s, ...)                                                     \
    db_exec((c), (s), (const char *const[]){__VA_ARGS__},                      \
            (int)(sizeof((const char *const[]){__VA_ARGS__}) /                 \
                  sizeof(const char *)))

/* Like db_exec for a statement whose rows are not needed.  Returns 0, or
 * -1. */
int db_exec_discard(db_conn *c, db_stmt s, const char *const *params, int n);

#define DB_EXEC_DISCARD(c, s, ...)                                             \
    db_exec_discard((c), (s), (const char *const[]){__VA_ARGS__},              \
                    (int)(sizeof((const char *const[]){__VA_ARGS__}) /         \
                          sizeof(const char *)))

/* True if the last failed db_exec on c failed with this SQLSTATE. */
bool db_failed_with(const db_conn *c, const char *sqlstate);

/* BEGIN; BEGIN of a read-only snapshot (REPEATABLE READ), for answers
 * assembled from several queries; COMMIT; ROLLBACK.  Return 0, or -1
 * (logged).  A BEGIN that fails because the connection dropped (with no
 * transaction open, as always at a BEGIN) reconnects once and tries
 * again, like db_exec.  A COMMIT that the server turned into a rollback
 * counts as failed. */
int db_begin(db_conn *c);
int db_begin_snapshot(db_conn *c);
int db_commit(db_conn *c);
void db_rollback(db_conn *c);

#endif
