/*
 * objects.h - the JSON objects of the API (user, member, message) built from
 * query rows, and the SQL column lists that produce those rows.  Keeping the
 * column list next to the code that reads it by position is the point: a
 * statement selects USER_COLS("u") and the handler calls user_object_new on
 * the same column offset.
 */
#ifndef PARLEY_API_OBJECTS_H
#define PARLEY_API_OBJECTS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

/* clang-format off */
/* A timestamptz as RFC 3339 UTC text with milliseconds. */
#define SQL_TIME(col)                                                          \
    "to_char(" col " AT TIME ZONE 'UTC', "                                      \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A timestamptz as unix milliseconds (bigint), rounded as
 * parley_message_json rounds message times; NULL stays NULL. */
#define SQL_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* id, username, display_name, role, created_at */
#define USER_COLS(a)                                                           \
    a ".id, " a ".username, " a ".display_name, " a ".role, " SQL_TIME(a       \
                                                              ".created_at")
#define USER_NCOLS 5

/* The caller's own user: USER_COLS, presence_hidden, last_seen (ms). */
#define ME_COLS(a)                                                             \
    USER_COLS(a) ", " a ".presence_hidden, " SQL_MS(a ".last_seen")
#define ME_NCOLS 7

/* The message object as one JSON text, from schema/006's
 * parley_message_json_text: the same object as parley_message_json
 * (schema/004, which the broker's edit events use), with its keys already
 * in the order clients see, and built at a fraction of the cost. */
#define MSG_COLS(a) "parley_message_json_text(" a ")"

/* A conversation as seen by one member, over aliases c (conversations),
 * m (the member's own row), rr (the member's read receipt, may be NULL)
 * and lm (a lateral select of its last message as lm.json, may be NULL):
 * id, kind, title, my role, created_at, my muted_until (NULL unless muted
 * until a time still ahead: also NULL when muted for ever), last message
 * JSON, my unread count, whether I mute it now.
 *
 * Unread: messages after my read pointer (all without one) that others
 * sent and that are neither deleted nor hidden; a range scan of
 * messages_conv_id from the pointer on. */
#define CONV_COLS                                                              \
    "c.id, c.kind, c.title, m.role, " SQL_TIME("c.created_at") ","            \
    " CASE WHEN m.muted_until > now() THEN " SQL_TIME("m.muted_until") " END," \
    " lm.json,"                                                                \
    " (SELECT count(*) FROM messages u WHERE u.conv_id = c.id"                 \
    "  AND u.id > coalesce(rr.up_to, -1) AND u.sender_id <> m.user_id"         \
    "  AND u.deleted_at IS NULL AND u.hidden_at IS NULL),"                     \
    " coalesce(m.muted_until > now(), false)"

/* A member with its receipts, over aliases mm (members), u (users), rr and
 * rd (its read and delivered receipts, may be NULL): id, username,
 * display_name, role, read up_to, delivered up_to. */
#define MEMBER_COLS                                                            \
    "u.id, u.username, u.display_name, mm.role, rr.up_to::text,"               \
    " rd.up_to::text"

/* clang-format on */

/* The user object: {"id","username","display_name","role","created_at"}
 * from USER_COLS at column col.  With public_only, only id, username and
 * display_name.  Returns a new reference, or NULL. */
json_t *user_object_new(const PGresult *res, int row, int col,
                        bool public_only);

/* The caller's own user object: the user object with "presence_hidden"
 * and "last_seen" (unix ms, or null), from ME_COLS at column col. */
json_t *me_object_new(const PGresult *res, int row, int col);

/* A conversation member: {"id","username","display_name","role",
 * "read_up_to","delivered_up_to"} from MEMBER_COLS at column col; the
 * pointers are message ids, or null. */
json_t *member_object_new(const PGresult *res, int row, int col);

/* The message object from MSG_COLS at column col: what subscribers
 * receive on conv/{c}/m (id as a string, conv, from, ts in unix ms, txn,
 * type, body when there is one, and the sender's other fields), plus
 * edited_at, or a deleted/hidden tombstone, keys in that order (jansson
 * keeps the order of the text).  Returns a new reference, or NULL (also
 * for SQL NULL, as for a conversation without messages). */
json_t *message_object_new(const PGresult *res, int row, int col);

/* The conversation object from CONV_COLS at column 0:
 * {"id","kind","title","role","members","last_message","unread_count",
 *  "muted_until","muted","created_at"}.  Takes ownership of members (an array
 * of member objects) even on failure.  Returns a new reference, or NULL. */
json_t *conv_object_new(const PGresult *res, int row, json_t *members);

#endif
