/*
 * objects.c - JSON objects from query rows (see objects.h).
 */
#include "objects.h"

#include <stdlib.h>
#include <string.h>

static json_t *text(const PGresult *res, int row, int col)
{
    return json_string(PQgetvalue(res, row, col));
}

json_t *user_object_new(const PGresult *res, int row, int col, bool public_only)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    if (json_object_set_new(o, "id", text(res, row, col)) != 0 ||
        json_object_set_new(o, "username", text(res, row, col + 1)) != 0 ||
        json_object_set_new(o, "display_name", text(res, row, col + 2)) != 0)
        goto error;
    if (!public_only &&
        (json_object_set_new(o, "role", text(res, row, col + 3)) != 0 ||
         json_object_set_new(o, "created_at", text(res, row, col + 4)) != 0))
        goto error;
    return o;
error:
    json_decref(o);
    return NULL;
}

/* A text column as a string, or null. */
static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : text(res, row, col);
}

json_t *me_object_new(const PGresult *res, int row, int col)
{
    json_t *o = user_object_new(res, row, col, false), *seen;

    if (o == NULL)
        return NULL;
    seen = PQgetisnull(res, row, col + USER_NCOLS + 1)
               ? json_null()
               : json_integer(strtoll(
                     PQgetvalue(res, row, col + USER_NCOLS + 1), NULL, 10));
    if (json_object_set_new(
            o, "presence_hidden",
            json_boolean(PQgetvalue(res, row, col + USER_NCOLS)[0] == 't')) !=
            0 ||
        json_object_set_new(o, "last_seen", seen) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *member_object_new(const PGresult *res, int row, int col)
{
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:o,s:o}", "id", PQgetvalue(res, row, col),
        "username", PQgetvalue(res, row, col + 1), "display_name",
        PQgetvalue(res, row, col + 2), "role", PQgetvalue(res, row, col + 3),
        "read_up_to", text_or_null(res, row, col + 4), "delivered_up_to",
        text_or_null(res, row, col + 5));
}

json_t *message_object_new(const PGresult *res, int row, int col)
{
    json_t *o;

    if (PQgetisnull(res, row, col))
        return NULL;
    o = json_loadb(PQgetvalue(res, row, col),
                   (size_t)PQgetlength(res, row, col), 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *conv_object_new(const PGresult *res, int row, json_t *members)
{
    json_t *last;

    if (members == NULL)
        return NULL;
    last = message_object_new(res, row, 6);
    if (last == NULL)
        last = json_null();
    return json_pack(
        "{s:s,s:s,s:o,s:s,s:o,s:o,s:I,s:o,s:b,s:s}", "id",
        PQgetvalue(res, row, 0), "kind", PQgetvalue(res, row, 1), "title",
        text_or_null(res, row, 2), "role", PQgetvalue(res, row, 3), "members",
        members, "last_message", last, "unread_count",
        (json_int_t)strtoll(PQgetvalue(res, row, 7), NULL, 10), "muted_until",
        text_or_null(res, row, 5), "muted", PQgetvalue(res, row, 8)[0] == 't',
        "created_at", PQgetvalue(res, row, 4));
}
