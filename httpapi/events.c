/*
 * events.c - parley_events payloads and NOTIFY (see events.h).
 */
#include "events.h"

#include <jansson.h>
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
    return dump_new(json_pack("{s:s,s:s,s:s}", "type", "member_removed",
                              "conv", conv, "user", user));
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

int event_notify_new(db_conn *c, char *payload)
{
    PGresult *res;

    if (payload == NULL)
        return -1;
    res = DB_EXEC(c, STMT_NOTIFY, payload);
    free(payload);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}
