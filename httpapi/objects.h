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

/* A timestamptz as RFC 3339 UTC text with milliseconds. */
#define SQL_TIME(col)                                                          \
    "to_char(" col " AT TIME ZONE 'UTC', "                                      \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* id, username, display_name, role, created_at */
#define USER_COLS(a)                                                           \
    a ".id, " a ".username, " a ".display_name, " a ".role, " SQL_TIME(a       \
                                                              ".created_at")
#define USER_NCOLS 5

/* id, conv, from, ts (unix ms), txn, type, body, extra */
#define MSG_COLS(a)                                                            \
    a ".id::text, " a ".conv_id, " a ".sender_id, "                           \
      "(extract(epoch FROM " a ".ts) * 1000)::bigint, " a ".txn, " a          \
      ".type, " a ".body, " a ".extra::text"
#define MSG_NCOLS 8

/* A conversation as seen by one member, over aliases c (conversations),
 * m (the member's own row) and lm (its last message, may be all NULL):
 * id, kind, title, my role, created_at, my muted_until, then MSG_COLS. */
#define CONV_COLS                                                              \
    "c.id, c.kind, c.title, m.role, " SQL_TIME(                                \
        "c.created_at") ", " SQL_TIME("m.muted_until") ", " MSG_COLS("lm")
#define CONV_NCOLS (6 + MSG_NCOLS)

/* The user object: {"id","username","display_name","role","created_at"}
 * from USER_COLS at column col.  With public_only, only id, username and
 * display_name.  Returns a new reference, or NULL. */
json_t *user_object_new(const PGresult *res, int row, int col,
                        bool public_only);

/* A conversation member: {"id","username","display_name","role"} from
 * (id, username, display_name, member role) at column col. */
json_t *member_object_new(const PGresult *res, int row, int col);

/* The message object as subscribers receive it on conv/{c}/m, from
 * MSG_COLS at column col: id (string), conv, from, ts (integer ms), txn,
 * type, body (omitted when NULL), then every key of extra that is not one of
 * those.  Returns a new reference, or NULL (also when the row's id is NULL,
 * as for a conversation without messages). */
json_t *message_object_new(const PGresult *res, int row, int col);

/* The conversation object from CONV_COLS at column 0:
 * {"id","kind","title","role","members","last_message","unread_count",
 *  "muted_until","created_at"}.  Takes ownership of members (an array of
 * member objects) even on failure.  Returns a new reference, or NULL. */
json_t *conv_object_new(const PGresult *res, int row, json_t *members);

#endif
