/*
 * db.c - per-thread PostgreSQL connections and the named prepared
 * statements of parley-api (see db.h).  Every SQL text the server runs is
 * in the table below.
 */
#include "db.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_reports.h"
#include "log.h"
#include "objects.h"

struct db_conn {
    PGconn *pg;
    bool prepared[STMT_COUNT];
    bool in_txn;
    char sqlstate[6]; /* of the last failure, "" if none */
};

typedef struct stmt_def {
    const char *name;
    const char *sql;
    int nparams;
} stmt_def;

/* The SQL keeps its own layout. */
/* clang-format off */
#define CONV_SELECT                                                            \
    "SELECT " CONV_COLS " FROM members m"                                      \
    " JOIN conversations c ON c.id = m.conv_id"                                \
    " LEFT JOIN receipts rr ON rr.conv_id = m.conv_id"                         \
    " AND rr.user_id = m.user_id AND rr.kind = 'read'"                         \
    " LEFT JOIN LATERAL (SELECT x.ts, " MSG_COLS("x") " AS json"               \
    " FROM messages x WHERE x.conv_id = c.id ORDER BY x.id DESC LIMIT 1) lm"   \
    " ON true WHERE m.user_id = $1"

#define MEMBER_SELECT                                                          \
    "SELECT mm.conv_id, " MEMBER_COLS                                          \
    " FROM members mm JOIN users u ON u.id = mm.user_id"                       \
    " LEFT JOIN receipts rr ON rr.conv_id = mm.conv_id"                        \
    " AND rr.user_id = mm.user_id AND rr.kind = 'read'"                        \
    " LEFT JOIN receipts rd ON rd.conv_id = mm.conv_id"                        \
    " AND rd.user_id = mm.user_id AND rd.kind = 'delivered'"

/* The events of GET /v1/sync (handlers_sync.h) after cursor $2 in the
 * conversations user $1 is a member of now, plus the conversation events
 * about $1 elsewhere (their removal), at most $3, by seq.  Each source is
 * read per conversation over its (conv_id, seq) index with its own LIMIT,
 * so no more than $3 rows per conversation and source are looked at; the
 * rows are then fetched again by (conv_id, seq) and only the page's
 * messages are turned into JSON.  Columns: see SYNC_COL_* in
 * handlers_sync.c. */
#define SYNC_PICK(table)                                                       \
    " FROM mine CROSS JOIN LATERAL (SELECT t.seq FROM " table " t"             \
    " WHERE t.conv_id = mine.conv_id AND t.seq > $2::bigint"                   \
    " ORDER BY t.seq LIMIT $3::int) p"

#define SYNC_SQL                                                               \
    "WITH mine AS (SELECT conv_id FROM members WHERE user_id = $1),"           \
    " pick AS (SELECT * FROM ("                                                \
    "  SELECT 1 AS src, mine.conv_id, p.seq" SYNC_PICK("messages")             \
    "  UNION ALL SELECT 2, mine.conv_id, p.seq" SYNC_PICK("receipts")          \
    "  UNION ALL SELECT 3, mine.conv_id, p.seq" SYNC_PICK("conv_events")       \
    "  UNION ALL (SELECT 3, e.conv_id, e.seq FROM conv_events e"               \
    "   WHERE e.user_id = $1 AND e.seq > $2::bigint"                           \
    "   AND e.conv_id NOT IN (SELECT conv_id FROM mine)"                       \
    "   ORDER BY e.seq LIMIT $3::int)"                                         \
    " ) u ORDER BY seq LIMIT $3::int)"                                         \
    " SELECT p.seq::text, p.conv_id::text,"                                    \
    " CASE p.src WHEN 1 THEN CASE"                                             \
    "  WHEN x.deleted_at IS NOT NULL OR x.hidden_at IS NOT NULL"               \
    "  THEN 'deleted' WHEN x.edited_at IS NOT NULL THEN 'edited'"              \
    "  ELSE 'message' END WHEN 2 THEN 'receipt' ELSE e.type END,"              \
    " CASE WHEN p.src = 1 THEN " MSG_COLS("x") " END,"                         \
    " r.user_id::text, r.kind, r.up_to::text, " SQL_MS("r.ts") ","            \
    " e.payload::text"                                                         \
    " FROM pick p"                                                             \
    " LEFT JOIN messages x"                                                    \
    "  ON p.src = 1 AND x.conv_id = p.conv_id AND x.seq = p.seq"               \
    " LEFT JOIN receipts r"                                                    \
    "  ON p.src = 2 AND r.conv_id = p.conv_id AND r.seq = p.seq"               \
    " LEFT JOIN conv_events e ON p.src = 3 AND e.seq = p.seq"                  \
    " ORDER BY p.seq"

/* The account check of a bearer token's user (bearer.h): the columns
 * USER_AUTH_COL_* of db.h, from users u. */
#define USER_AUTH_COLS                                                         \
    "coalesce(floor(extract(epoch FROM u.tokens_valid_after))::bigint, 0),"    \
    " coalesce(u.banned_until > now(), false)"

/* A history page (handlers_messages.h) in one statement, with the account
 * check of its reader $2 folded in (one round trip instead of two): no row
 * when $2 has no account; otherwise USER_AUTH_COLS, then NULL when $2 is
 * not a member of conversation $1, or the whole reply
 * {"messages":[...],"has_more":...} as JSON text: at most $3 messages of
 * the conversation past the bound (range: "" or a condition on x.id using
 * $4), read in the given order, listed newest first, each made by
 * parley_message_json_text (schema/006).  has_more: the page is full and
 * one more message lies beyond its far end (edge: min or max of its ids,
 * beyond: the comparison that looks past it), an index probe rather than
 * one row more turned into JSON.  The users row, then the members row are
 * the outer sides, so nothing is read for a non-member.  The page is built
 * for a member whatever the account's state; parley-api sends it only
 * when the account stands. */
#define HISTORY_SQL(range, order, edge, beyond)                               \
    "SELECT " USER_AUTH_COLS ", h.page FROM users u LEFT JOIN LATERAL ("      \
    " SELECT '{\"messages\":[' || coalesce(p.items, '')"                      \
    " || '],\"has_more\":' || CASE WHEN p.n = $3::int AND EXISTS"             \
    " (SELECT 1 FROM messages y WHERE y.conv_id = mb.conv_id"                  \
    "  AND y.id " beyond " p.edge) THEN 'true' ELSE 'false' END || '}'"        \
    " AS page"                                                                 \
    " FROM members mb CROSS JOIN LATERAL ("                                    \
    "  SELECT string_agg(q.j, ',' ORDER BY q.id DESC) AS items,"               \
    "  " edge "(q.id) AS edge, count(*) AS n FROM ("                           \
    "   SELECT x.id, parley_message_json_text(x) AS j FROM messages x"         \
    "   WHERE x.conv_id = mb.conv_id" range                                    \
    "   ORDER BY x.id " order " LIMIT $3::int) q) p"                           \
    " WHERE mb.conv_id = $1 AND mb.user_id = u.id) h ON true"                  \
    " WHERE u.id = $2"

static const stmt_def stmts[STMT_COUNT] = {
    [STMT_HEALTH] = {"health", "SELECT 1", 0},
    [STMT_NOTIFY] = {"notify", "SELECT pg_notify('parley_events', $1)", 1},
    /* $1: a JSON array of event payloads (strings); see events.h */
    [STMT_EVENTS_FLUSH] =
        {"events_flush",
         "WITH e AS (SELECT p, ord FROM jsonb_array_elements_text($1::jsonb)"
         "           WITH ORDINALITY AS t(p, ord)),"
         " s AS (SELECT parley_reserve_seq(count(*)::int) AS last,"
         "       count(*) AS n FROM e),"
         " stored AS (INSERT INTO conv_events"
         "       (seq, conv_id, user_id, type, payload)"
         "       SELECT s.last - s.n + e.ord, (e.p::jsonb ->> 'conv')::uuid,"
         "       (e.p::jsonb ->> 'user')::uuid, e.p::jsonb ->> 'type',"
         "       e.p::jsonb FROM e, s)"
         " SELECT pg_notify('parley_events', q.p)"
         " FROM (SELECT p FROM e ORDER BY ord) q",
         1},

    [STMT_USER_INSERT] = {"user_insert",
                          "INSERT INTO users AS u (id, username, display_name,"
                          " role, password_hash) VALUES ($1, $2, $3, $4, $5)"
                          " RETURNING " USER_COLS("u"),
                          5},
    [STMT_USER_UPSERT] =
        {"user_upsert",
         "INSERT INTO users AS u (id, username, display_name, role,"
         " password_hash) VALUES ($1, $2, $3, $4, $5)"
         " ON CONFLICT ((lower(username))) DO UPDATE SET"
         " password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,"
         " display_name = CASE WHEN $6::boolean THEN EXCLUDED.display_name"
         " ELSE u.display_name END"
         " RETURNING u.id, (xmax = 0)",
         6},
    [STMT_USER_LOGIN] = {"user_login",
                         "SELECT " USER_COLS("u") ", u.password_hash,"
                         " coalesce(u.banned_until > now(), false),"
                         " coalesce(floor(extract(epoch FROM"
                         " u.tokens_valid_after))::bigint, 0)"
                         " FROM users u WHERE lower(u.username) = lower($1)",
                         1},
    [STMT_USER_BY_ID] = {"user_by_id",
                         "SELECT " USER_COLS("u") " FROM users u WHERE u.id = $1",
                         1},
    [STMT_USER_PUBLIC] = {"user_public",
                          "SELECT u.id, u.username, u.display_name FROM users u"
                          " WHERE u.id = $1",
                          1},
    [STMT_USERS_COUNT] = {"users_count",
                          "SELECT count(*) FROM users WHERE id = ANY($1::uuid[])",
                          1},

    /* Whether a verified access token still stands: tokens issued at or
     * before tokens_valid_after (in whole seconds, as the broker compares)
     * were revoked; banned users are refused. */
    [STMT_USER_ME] = {"user_me",
                      "SELECT " ME_COLS("u") " FROM users u WHERE u.id = $1",
                      1},
    [STMT_USER_PASSWORD_HASH] = {"user_password_hash",
                                 "SELECT password_hash FROM users"
                                 " WHERE id = $1",
                                 1},
    /* PATCH /v1/me: $2 display name, $3 presence_hidden, $4 new password
     * hash, each NULL to keep; $5, when set, the hash the new one
     * replaces (a concurrent change makes the update match nothing).  A
     * new password revokes every access token issued so far.  The last
     * column tells whether presence_hidden changed. */
    [STMT_USER_UPDATE] =
        {"user_update",
         "WITH old AS (SELECT id, presence_hidden FROM users"
         "             WHERE id = $1 FOR UPDATE)"
         " UPDATE users u SET display_name = coalesce($2, u.display_name),"
         " presence_hidden = coalesce($3::boolean, u.presence_hidden),"
         " password_hash = coalesce($4, u.password_hash),"
         " tokens_valid_after = CASE WHEN $4::text IS NULL"
         " THEN u.tokens_valid_after ELSE now() END"
         " FROM old WHERE u.id = old.id"
         " AND ($5::text IS NULL OR u.password_hash = $5)"
         " RETURNING " ME_COLS("u") ","
         " old.presence_hidden IS DISTINCT FROM u.presence_hidden",
         5},

    [STMT_USER_AUTH] = {"user_auth",
                        "SELECT " USER_AUTH_COLS " FROM users u"
                        " WHERE u.id = $1",
                        1},
    [STMT_USER_REVOKE_TOKENS] = {"user_revoke_tokens",
                                 "UPDATE users SET tokens_valid_after = now()"
                                 " WHERE id = $1",
                                 1},

    [STMT_SESSION_INSERT] = {"session_insert",
                             "INSERT INTO login_sessions (id, user_id, device)"
                             " VALUES ($1, $2, $3)",
                             3},
    [STMT_REFRESH_INSERT] =
        {"refresh_insert",
         "INSERT INTO refresh_tokens (token_hash, session_id, expires_at)"
         " VALUES ($1::bytea, $2,"
         " now() + make_interval(secs => $3::double precision))",
         3},
    [STMT_REFRESH_LOCK] =
        {"refresh_lock",
         "SELECT rt.session_id, rt.rotated_at IS NOT NULL,"
         " rt.expires_at <= now(), s.revoked_at IS NOT NULL,"
         " coalesce(u.banned_until > now(), false),"
         " coalesce(floor(extract(epoch FROM"
         " u.tokens_valid_after))::bigint, 0), " USER_COLS("u")
         " FROM refresh_tokens rt"
         " JOIN login_sessions s ON s.id = rt.session_id"
         " JOIN users u ON u.id = s.user_id"
         " WHERE rt.token_hash = $1::bytea FOR UPDATE OF rt, s",
         1},
    [STMT_REFRESH_ROTATE] = {"refresh_rotate",
                             "UPDATE refresh_tokens SET rotated_at = now()"
                             " WHERE token_hash = $1::bytea",
                             1},
    [STMT_SESSION_TOUCH] = {"session_touch",
                            "UPDATE login_sessions SET last_used_at = now()"
                            " WHERE id = $1",
                            1},
    [STMT_SESSION_REVOKE] = {"session_revoke",
                             "UPDATE login_sessions SET revoked_at = now(),"
                             " revoke_reason = $2"
                             " WHERE id = $1 AND revoked_at IS NULL",
                             2},
    [STMT_SESSION_REVOKE_BY_TOKEN] =
        {"session_revoke_by_token",
         "UPDATE login_sessions s SET revoked_at = now(),"
         " revoke_reason = 'logout' FROM refresh_tokens rt"
         " WHERE rt.token_hash = $1::bytea AND s.id = rt.session_id"
         " AND s.revoked_at IS NULL",
         1},
    [STMT_SESSIONS_REVOKE_USER] = {"sessions_revoke_user",
                                   "UPDATE login_sessions SET revoked_at = now(),"
                                   " revoke_reason = $2"
                                   " WHERE user_id = $1 AND revoked_at IS NULL",
                                   2},

    [STMT_CONV_INSERT] = {"conv_insert",
                          "INSERT INTO conversations (id, kind, title,"
                          " direct_key, created_by) VALUES ($1, $2, $3, $4, $5)"
                          " ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                          5},
    [STMT_CONV_BY_DIRECT_KEY] = {"conv_by_direct_key",
                                 "SELECT id FROM conversations"
                                 " WHERE direct_key = $1 FOR NO KEY UPDATE",
                                 1},
    [STMT_CONV_LIST] = {"conv_list",
                        CONV_SELECT " ORDER BY greatest(lm.ts, c.created_at)"
                                    " DESC, c.id DESC",
                        1},
    [STMT_CONV_GET] = {"conv_get", CONV_SELECT " AND c.id = $2", 2},
    [STMT_CONV_MEMBERS_OF_USER] =
        {"conv_members_of_user",
         MEMBER_SELECT " JOIN members me ON me.conv_id = mm.conv_id"
                       " WHERE me.user_id = $1"
                       " ORDER BY mm.conv_id, mm.joined_at, u.id",
         1},
    [STMT_CONV_MEMBERS] = {"conv_members",
                           MEMBER_SELECT " WHERE mm.conv_id = $1"
                                         " ORDER BY mm.joined_at, u.id",
                           1},
    [STMT_CONV_LOCK_ACTOR] =
        {"conv_lock_actor",
         "SELECT c.kind, m.role FROM conversations c"
         " JOIN members m ON m.conv_id = c.id AND m.user_id = $2"
         " WHERE c.id = $1 FOR NO KEY UPDATE OF c",
         2},
    [STMT_MEMBER_INSERT] = {"member_insert",
                            "INSERT INTO members (conv_id, user_id, role)"
                            " VALUES ($1, $2, $3)"
                            " ON CONFLICT DO NOTHING RETURNING user_id",
                            3},
    [STMT_MEMBERS_INSERT_MANY] = {"members_insert_many",
                                  "INSERT INTO members (conv_id, user_id, role)"
                                  " SELECT $1, u, $3 FROM unnest($2::uuid[]) u"
                                  " ON CONFLICT DO NOTHING RETURNING user_id",
                                  3},
    [STMT_MEMBER_ROLE] = {"member_role",
                          "SELECT role FROM members"
                          " WHERE conv_id = $1 AND user_id = $2",
                          2},
    [STMT_MEMBER_DELETE] = {"member_delete",
                            "DELETE FROM members"
                            " WHERE conv_id = $1 AND user_id = $2 RETURNING role",
                            2},
    [STMT_MEMBER_SET_ROLE] = {"member_set_role",
                              "UPDATE members SET role = $3"
                              " WHERE conv_id = $1 AND user_id = $2",
                              3},
    [STMT_OWNER_COUNT] = {"owner_count",
                          "SELECT count(*) FROM members"
                          " WHERE conv_id = $1 AND role = 'owner'",
                          1},
    [STMT_MEMBER_SUCCESSOR] = {"member_successor",
                               "SELECT user_id FROM members WHERE conv_id = $1"
                               " ORDER BY role = 'admin' DESC, joined_at, user_id"
                               " LIMIT 1",
                               1},

    /* Mute: $3 unix ms, or NULL for ever ('infinity'). */
    [STMT_MEMBER_MUTE] =
        {"member_mute",
         "UPDATE members SET muted_until = CASE WHEN $3::bigint IS NULL"
         " THEN 'infinity'::timestamptz"
         " ELSE timestamptz 'epoch' + $3::bigint * interval '1 millisecond'"
         " END WHERE conv_id = $1 AND user_id = $2 RETURNING true",
         3},
    [STMT_MEMBER_UNMUTE] = {"member_unmute",
                            "UPDATE members SET muted_until = NULL"
                            " WHERE conv_id = $1 AND user_id = $2"
                            " RETURNING true",
                            2},

    /* The read pointer (handlers_member_state.h): the database's time for the
     * receipt, if up_to is a message of the conversation. */
    [STMT_MSG_IN_CONV] = {"msg_in_conv",
                          "SELECT " SQL_MS("now()") " FROM messages"
                          " WHERE conv_id = $1 AND id = $2::bigint",
                          2},
    /* Moves the pointer forward only; returns a row if it moved.  Its seq
     * is reserved here, in the transaction's last statement. */
    [STMT_RECEIPT_READ] =
        {"receipt_read",
         "WITH s AS (SELECT parley_reserve_seq(1) AS seq)"
         " INSERT INTO receipts AS r (conv_id, user_id, kind, up_to, ts, seq)"
         " SELECT $1, $2, 'read', $3::bigint, now(), s.seq FROM s"
         " ON CONFLICT (conv_id, user_id, kind) DO UPDATE"
         " SET up_to = EXCLUDED.up_to, ts = EXCLUDED.ts, seq = EXCLUDED.seq"
         " WHERE r.up_to < EXCLUDED.up_to RETURNING r.seq",
         3},

    /* Edits and deletes (handlers_messages.h): the message $1 and what
     * permissions.h decides on, for member $2, locked.  No row: no such
     * message, or $2 is not a member of its conversation. */
    [STMT_MSG_LOCK] =
        {"msg_lock",
         "SELECT x.conv_id, x.sender_id = $2, x.type = 'text',"
         " x.deleted_at IS NOT NULL, x.hidden_at IS NOT NULL, m.role,"
         " " SQL_MS("now()") " - " SQL_MS("x.ts")
         " FROM messages x"
         " JOIN members m ON m.conv_id = x.conv_id AND m.user_id = $2"
         " WHERE x.id = $1::bigint FOR UPDATE OF x",
         2},
    /* The new seq is the transaction's last statement. */
    [STMT_MSG_EDIT] = {"msg_edit",
                       "UPDATE messages x SET body = $2, edited_at = now(),"
                       " seq = parley_reserve_seq(1)"
                       " WHERE x.id = $1::bigint RETURNING " MSG_COLS("x"),
                       2},
    [STMT_MSG_DELETE] = {"msg_delete",
                         "UPDATE messages SET body = NULL, extra = '{}',"
                         " deleted_at = now(), seq = parley_reserve_seq(1)"
                         " WHERE id = $1::bigint",
                         1},

    /* Moderation and admin.  A hide renumbers the message like a delete
     * (handlers_messages.h message_tombstone), as the last statement. */
    [STMT_MSG_HIDE] = {"msg_hide",
                       "UPDATE messages SET hidden_at = now(),"
                       " seq = parley_reserve_seq(1)"
                       " WHERE id = $1::bigint",
                       1},
    [STMT_ADMIN_ROLE] = {"admin_role",
                         "SELECT role = 'admin' FROM users WHERE id = $1", 1},
    /* The user $1, locked; whether a ban holds now. */
    [STMT_USER_BAN_LOCK] = {"user_ban_lock",
                            "SELECT coalesce(banned_until > now(), false)"
                            " FROM users WHERE id = $1 FOR UPDATE",
                            1},
    /* $2: the end in unix ms, or NULL for no end (schema/007). */
    [STMT_USER_BAN] = {"user_ban",
                       "UPDATE users SET banned_until = CASE"
                       " WHEN $2::bigint IS NULL"
                       " THEN timestamptz '9999-12-31 23:59:59+00'"
                       " ELSE to_timestamp($2::bigint / 1000.0) END"
                       " WHERE id = $1",
                       2},
    [STMT_USER_UNBAN] = {"user_unban",
                         "UPDATE users SET banned_until = NULL WHERE id = $1",
                         1},
    /* The message $1, locked: its conversation, whether it is already a
     * tombstone (deleted or hidden). */
    [STMT_MSG_ADMIN_LOCK] = {"msg_admin_lock",
                             "SELECT conv_id, deleted_at IS NOT NULL"
                             " OR hidden_at IS NOT NULL FROM messages"
                             " WHERE id = $1::bigint FOR UPDATE",
                             1},
    /* actor, action, target, reason (or NULL), detail (JSON text) */
    [STMT_AUDIT_INSERT] = {"audit_insert",
                           "INSERT INTO audit_log"
                           " (actor_id, action, target, reason, detail)"
                           " VALUES ($1, $2, $3, $4, $5::jsonb)",
                           5},
    /* Newest first, before id $1 (or NULL), at most $2. */
    [STMT_AUDIT_LIST] = {"audit_list",
                         "SELECT a.id::text, a.actor_id::text, a.action,"
                         " a.target, a.reason, a.detail::text, "
                         SQL_TIME("a.created_at") " FROM audit_log a"
                         " WHERE ($1::bigint IS NULL OR a.id < $1::bigint)"
                         " ORDER BY a.id DESC LIMIT $2::int",
                         2},
    /* Messages of the last 24 hours by their time-ordered ids, a range
     * of the primary key (common/ids.h). */
    [STMT_ADMIN_STATS] = {"admin_stats",
                          "SELECT (SELECT count(*) FROM users),"
                          " (SELECT count(*) FROM users"
                          "  WHERE banned_until > now()),"
                          " (SELECT count(*) FROM conversations),"
                          " (SELECT count(*) FROM messages),"
                          " (SELECT count(*) FROM messages WHERE id >= (("
                          SQL_MS("now() - interval '24 hours'")
                          " - 1704067200000) << 22)),"
                          " (SELECT count(*) FROM reports"
                          "  WHERE status = 'open')",
                          0},
    /* Reporter $1 about message $2 (NULL: none; only one of a
     * conversation $1 is a member of) and/or user $3 (NULL: none; must
     * exist), reason $4.  No row: one of them does not qualify. */
    [STMT_REPORT_INSERT] =
        {"report_insert",
         "INSERT INTO reports AS r"
         " (reporter_id, message_id, conv_id, user_id, reason, snapshot)"
         " SELECT $1, x.id, x.conv_id, u.id, $4,"
         " CASE WHEN x.id IS NOT NULL THEN parley_message_json(x) END"
         " FROM (SELECT 1) one"
         " LEFT JOIN messages x ON x.id = $2::bigint AND EXISTS"
         " (SELECT 1 FROM members m WHERE m.conv_id = x.conv_id"
         "  AND m.user_id = $1)"
         " LEFT JOIN users u ON u.id = $3::uuid"
         " WHERE ($2::bigint IS NULL OR x.id IS NOT NULL)"
         " AND ($3::uuid IS NULL OR u.id IS NOT NULL)"
         " RETURNING " REPORT_COLS("r"),
         4},
    /* Status $1 (NULL: any), before id $2 (NULL: newest), at most $3. */
    [STMT_REPORTS_LIST] = {"reports_list",
                           "SELECT " REPORT_COLS("r") " FROM reports r"
                           " WHERE ($1::text IS NULL OR r.status = $1)"
                           " AND ($2::bigint IS NULL OR r.id < $2::bigint)"
                           " ORDER BY r.id DESC LIMIT $3::int",
                           3},
    [STMT_REPORT_LOCK] = {"report_lock",
                          "SELECT status FROM reports"
                          " WHERE id = $1::bigint FOR UPDATE",
                          1},
    [STMT_REPORT_SET_STATUS] = {"report_set_status",
                                "UPDATE reports r SET status = $2,"
                                " resolved_by = $3, resolved_at = now()"
                                " WHERE id = $1::bigint"
                                " RETURNING " REPORT_COLS("r"),
                                3},

    [STMT_SYNC_HEAD] = {"sync_head", "SELECT value FROM change_counter", 0},
    [STMT_SYNC] = {"sync", SYNC_SQL, 3},

    /* $1 conversation, $2 the reader, $3 limit, $4 the before or after id */
    [STMT_HISTORY_LATEST] = {"history_latest",
                             HISTORY_SQL("", "DESC", "min", "<"), 3},
    [STMT_HISTORY_BEFORE] = {"history_before",
                             HISTORY_SQL(" AND x.id < $4::bigint", "DESC",
                                         "min", "<"),
                             4},
    [STMT_HISTORY_AFTER] = {"history_after",
                            HISTORY_SQL(" AND x.id > $4::bigint", "ASC",
                                        "max", ">"),
                            4},
};

/* clang-format on */

/* Logs libpq's message for a failure on one line. */
static void log_failure(db_conn *c, const char *what, const PGresult *res)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    char line[512];
    size_t n = 0;

    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(c->pg);
    for (; *msg != '\0' && n + 1 < sizeof line; msg++) {
        char ch = *msg == '\n' || *msg == '\t' ? ' ' : *msg;
        if (ch == ' ' && (n == 0 || line[n - 1] == ' '))
            continue;
        line[n++] = ch;
    }
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    api_log("database: %s failed: %s", what, line);
}

static void conn_destroy(void *arg)
{
    db_conn *c = arg;

    if (c == NULL)
        return;
    PQfinish(c->pg);
    free(c);
}

/* Connects with a connect timeout and an application name that the
 * conninfo may override. */
static PGconn *connect_pg(const char *conninfo)
{
    const char *const keys[] = {"connect_timeout", "fallback_application_name",
                                "dbname", NULL};
    const char *const values[] = {"5", "parley-api", conninfo, NULL};

    return PQconnectdbParams(keys, values, 1);
}

db_conn *db_conn_open(const char *conninfo)
{
    db_conn *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->pg = connect_pg(conninfo);
    if (c->pg == NULL) {
        api_log("database connection failed: out of memory");
        conn_destroy(c);
        return NULL;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        log_failure(c, "connecting", NULL);
        conn_destroy(c);
        return NULL;
    }
    return c;
}

void db_conn_close(db_conn *c)
{
    conn_destroy(c);
}

PGconn *db_conn_pg(db_conn *c)
{
    return c->pg;
}

int db_pool_init(db_pool *p, const char *conninfo)
{
    memset(p, 0, sizeof *p);
    p->conninfo = conninfo;
    if (pthread_key_create(&p->key, conn_destroy) != 0)
        return -1;
    p->key_created = true;
    return 0;
}

void db_pool_destroy(db_pool *p)
{
    if (p == NULL || !p->key_created)
        return;
    /* The calling thread's own connection, if it ever made one. */
    conn_destroy(pthread_getspecific(p->key));
    pthread_setspecific(p->key, NULL);
    pthread_key_delete(p->key);
    p->key_created = false;
}

/* Re-establishes a dropped connection; its prepared statements are gone. */
static int reconnect(db_conn *c)
{
    PQreset(c->pg);
    memset(c->prepared, 0, sizeof c->prepared);
    c->in_txn = false;
    if (PQstatus(c->pg) != CONNECTION_OK) {
        log_failure(c, "reconnecting", NULL);
        return -1;
    }
    api_log("database connection re-established");
    return 0;
}

db_conn *db_pool_acquire(db_pool *p)
{
    db_conn *c = pthread_getspecific(p->key);

    if (c == NULL) {
        c = db_conn_open(p->conninfo);
        if (c == NULL)
            return NULL;
        if (pthread_setspecific(p->key, c) != 0) {
            conn_destroy(c);
            return NULL;
        }
        return c;
    }
    if (PQstatus(c->pg) != CONNECTION_OK && reconnect(c) != 0)
        return NULL;
    if (c->in_txn || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_rollback(c);
    c->sqlstate[0] = '\0';
    return c;
}

/* Prepares s on c if it has not been yet.  Returns 0, or -1 (logged). */
static int ensure_prepared(db_conn *c, db_stmt s)
{
    PGresult *res;
    int ok;

    if (c->prepared[s])
        return 0;
    res = PQprepare(c->pg, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
    ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        log_failure(c, stmts[s].name, res);
    PQclear(res);
    c->prepared[s] = ok;
    return ok ? 0 : -1;
}

/* One attempt.  Returns the result, or NULL with c->sqlstate set. */
static PGresult *exec_once(db_conn *c, db_stmt s, const char *const *params,
                           int n)
{
    PGresult *res;
    ExecStatusType st;
    const char *state;

    if (ensure_prepared(c, s) != 0) {
        strcpy(c->sqlstate, "08000");
        return NULL;
    }
    res = PQexecPrepared(c->pg, stmts[s].name, n, params, NULL, NULL, 0);
    st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        c->sqlstate[0] = '\0';
        return res;
    }
    state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s",
             state != NULL ? state : "08000");
    if (strncmp(c->sqlstate, "23", 2) != 0)
        log_failure(c, stmts[s].name, res);
    PQclear(res);
    return NULL;
}

PGresult *db_exec(db_conn *c, db_stmt s, const char *const *params, int n)
{
    PGresult *res;

    assert(s < STMT_COUNT && n == stmts[s].nparams);
    res = exec_once(c, s, params, n);
    if (res == NULL && !c->in_txn && PQstatus(c->pg) == CONNECTION_BAD &&
        reconnect(c) == 0)
        res = exec_once(c, s, params, n);
    return res;
}

int db_exec_discard(db_conn *c, db_stmt s, const char *const *params, int n)
{
    PGresult *res = db_exec(c, s, params, n);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

bool db_failed_with(const db_conn *c, const char *sqlstate)
{
    return strcmp(c->sqlstate, sqlstate) == 0;
}

/* Runs a parameterless command and checks its status tag. */
static int simple_command(db_conn *c, const char *sql, const char *tag)
{
    PGresult *res = PQexec(c->pg, sql);
    int ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
             strcmp(PQcmdStatus(res), tag) == 0;

    if (!ok)
        log_failure(c, sql, res);
    PQclear(res);
    return ok ? 0 : -1;
}

/* Opens a transaction with sql.  The first statement of a request is often
 * a BEGIN, and a connection that PostgreSQL dropped (a restart) still looks
 * fine until it is used: so, as db_exec does for a lone statement, a BEGIN
 * that fails because the connection is gone, with no transaction open (so
 * nothing is lost), reconnects once and tries again. */
static int begin_with(db_conn *c, const char *sql)
{
    if (c->in_txn) {
        api_log("database: %s inside a transaction", sql);
        return -1;
    }
    if (PQstatus(c->pg) != CONNECTION_OK && reconnect(c) != 0)
        return -1;
    if (simple_command(c, sql, "BEGIN") != 0) {
        if (PQstatus(c->pg) != CONNECTION_BAD || reconnect(c) != 0 ||
            simple_command(c, sql, "BEGIN") != 0)
            return -1;
    }
    c->in_txn = true;
    return 0;
}

int db_begin(db_conn *c)
{
    return begin_with(c, "BEGIN");
}

int db_begin_snapshot(db_conn *c)
{
    return begin_with(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int db_commit(db_conn *c)
{
    int rc = simple_command(c, "COMMIT", "COMMIT");

    c->in_txn = false;
    if (rc != 0 && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_rollback(c);
    return rc;
}

void db_rollback(db_conn *c)
{
    PGresult *res = PQexec(c->pg, "ROLLBACK");

    PQclear(res);
    c->in_txn = false;
}
