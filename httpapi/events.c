/*
 * events.c - parley_events payloads, NOTIFY and conv_events (see events.h).
 */
#include "events.h"

#include <stdlib.h>

/* Serialises and releases obj.  Keys keep their insertion order. */
static char *dump_new(json_t *obj)
{
    char *s = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    return s;
}

char *event_member_added(const char *conv, const char *user, const char *role)
{
    return dump_new(json_pack("{s:s,s:s,s:s,s:s}", "type", "member_added",
                              "conv", conv, "user", user, "role", role));
}

char *event_member_removed(const char *conv, const char *user)
{
    return dump_new(json_pack("{s:s,s:s,s:s}", "type", "member_removed", "conv",
                              conv, "user", user));
}

char *event_role_changed(const char *conv, const char *user, const char *role)
{
    return dump_new(json_pack("{s:s,s:s,s:s,s:s}", "type", "role_changed",
                              "conv", conv, "user", user, "role", role));
}

char *event_sessions_revoked(const char *user)
{
    return dump_new(
        json_pack("{s:s,s:s}", "type", "sessions_revoked", "user", user));
}

char *event_presence_changed(const char *user)
{
    return dump_new(
        json_pack("{s:s,s:s}", "type", "presence_changed", "user", user));
}

char *event_message_edited(const char *conv, const char *id)
{
    return dump_new(
        json_pack("{s:s,s:s,s:s}", "type", "edited", "conv", conv, "id", id));
}

char *event_message_deleted(const char *conv, const char *id)
{
    return dump_new(
        json_pack("{s:s,s:s,s:s}", "type", "deleted", "conv", conv, "id", id));
}

char *event_message_hidden(const char *conv, const char *id)
{
    return dump_new(
        json_pack("{s:s,s:s,s:s}", "type", "hidden", "conv", conv, "id", id));
}

char *event_user_banned(const char *user)
{
    return dump_new(
        json_pack("{s:s,s:s}", "type", "user_banned", "user", user));
}

char *event_user_unbanned(const char *user)
{
    return dump_new(
        json_pack("{s:s,s:s}", "type", "user_unbanned", "user", user));
}

char *event_receipt(const char *conv, const char *user, const char *kind,
                    const char *up_to, long long ts)
{
    return dump_new(json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "type", "receipt",
                              "conv", conv, "user", user, "kind", kind, "up_to",
                              up_to, "ts", (json_int_t)ts));
}

int event_notify_new(db_conn *c, char *payload)
{
    int rc;

    if (payload == NULL)
        return -1;
    rc = DB_EXEC_DISCARD(c, STMT_NOTIFY, payload);
    free(payload);
    return rc;
}

int event_batch_add_new(event_batch *b, char *payload)
{
    int rc = -1;

    if (payload == NULL)
        return -1;
    if (b->payloads == NULL)
        b->payloads = json_array();
    if (b->payloads != NULL)
        rc = json_array_append_new(b->payloads, json_string(payload));
    free(payload);
    return rc == 0 ? 0 : -1;
}

int event_batch_commit(event_batch *b, db_conn *c)
{
    char *list = NULL;
    int rc = 0;

    if (json_array_size(b->payloads) > 0) {
        /* The payloads travel as one JSON array of strings, so the exact
         * text of each is what NOTIFY sends. */
        list = json_dumps(b->payloads, JSON_COMPACT);
        rc = list != NULL ? DB_EXEC_DISCARD(c, STMT_EVENTS_FLUSH, list) : -1;
        free(list);
    }
    event_batch_clear(b);
    if (rc == 0)
        rc = db_commit(c);
    return rc;
}

void event_batch_clear(event_batch *b)
{
    json_decref(b->payloads);
    b->payloads = NULL;
}
