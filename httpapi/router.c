/*
 * router.c - the route table and path matching (see router.h).
 */
#include "router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct route_def {
    http_method method;
    /* segments: words, ":conv", ":user", ":message", ":report" */
    const char *pattern;
    route_id id;
} route_def;

static const route_def routes[] = {
    {HTTP_GET, "/healthz", ROUTE_HEALTHZ},
    {HTTP_POST, "/v1/auth/register", ROUTE_AUTH_REGISTER},
    {HTTP_POST, "/v1/auth/login", ROUTE_AUTH_LOGIN},
    {HTTP_POST, "/v1/auth/refresh", ROUTE_AUTH_REFRESH},
    {HTTP_POST, "/v1/auth/logout", ROUTE_AUTH_LOGOUT},
    {HTTP_GET, "/v1/me", ROUTE_ME},
    {HTTP_PATCH, "/v1/me", ROUTE_ME_UPDATE},
    {HTTP_GET, "/v1/users/:user", ROUTE_USER_GET},
    {HTTP_POST, "/v1/conversations", ROUTE_CONV_CREATE},
    {HTTP_GET, "/v1/conversations", ROUTE_CONV_LIST},
    {HTTP_GET, "/v1/conversations/:conv", ROUTE_CONV_GET},
    {HTTP_POST, "/v1/conversations/:conv/members", ROUTE_MEMBER_ADD},
    {HTTP_DELETE, "/v1/conversations/:conv/members/:user", ROUTE_MEMBER_REMOVE},
    {HTTP_PATCH, "/v1/conversations/:conv/members/:user", ROUTE_MEMBER_UPDATE},
    {HTTP_GET, "/v1/conversations/:conv/messages", ROUTE_MESSAGES_LIST},
    {HTTP_POST, "/v1/conversations/:conv/read", ROUTE_CONV_READ},
    {HTTP_PUT, "/v1/conversations/:conv/mute", ROUTE_CONV_MUTE},
    {HTTP_DELETE, "/v1/conversations/:conv/mute", ROUTE_CONV_UNMUTE},
    {HTTP_PATCH, "/v1/messages/:message", ROUTE_MESSAGE_EDIT},
    {HTTP_DELETE, "/v1/messages/:message", ROUTE_MESSAGE_DELETE},
    {HTTP_GET, "/v1/sync", ROUTE_SYNC},
    {HTTP_POST, "/v1/reports", ROUTE_REPORT_CREATE},
    {HTTP_GET, "/v1/admin/reports", ROUTE_ADMIN_REPORTS},
    {HTTP_PATCH, "/v1/admin/reports/:report", ROUTE_ADMIN_REPORT_UPDATE},
    {HTTP_POST, "/v1/admin/users/:user/ban", ROUTE_ADMIN_BAN},
    {HTTP_DELETE, "/v1/admin/users/:user/ban", ROUTE_ADMIN_UNBAN},
    {HTTP_POST, "/v1/admin/messages/:message/hide", ROUTE_ADMIN_HIDE},
    {HTTP_GET, "/v1/admin/audit", ROUTE_ADMIN_AUDIT},
    {HTTP_GET, "/v1/admin/stats", ROUTE_ADMIN_STATS},
};

http_method http_method_parse(const char *name)
{
    static const struct {
        const char *name;
        http_method m;
    } names[] = {
        {"GET", HTTP_GET}, {"HEAD", HTTP_HEAD},   {"POST", HTTP_POST},
        {"PUT", HTTP_PUT}, {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
    };

    for (size_t i = 0; name != NULL && i < sizeof names / sizeof names[0];
         i++) {
        if (strcmp(name, names[i].name) == 0)
            return names[i].m;
    }
    return HTTP_OTHER;
}

/* Copies a path segment s[0..len) that is a message (or report) id into
 * out.  Returns false when it is not one (id_parse's rules: decimal, no
 * sign or leading zero, at most INT64_MAX). */
static bool message_segment_copy(const char *s, size_t len,
                                 char out[PARLEY_ID_STR_MAX + 1])
{
    uint64_t id;

    if (len == 0 || len > PARLEY_ID_STR_MAX)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    if (id_parse(out, &id) != 0) {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* Matches path against one pattern, capturing into out.  Both start with
 * '/'; segments are compared one by one. */
static bool pattern_match(const char *pattern, const char *path,
                          route_match *out)
{
    const char *p = pattern, *s = path;

    out->conv[0] = '\0';
    out->user[0] = '\0';
    out->message[0] = '\0';
    out->report[0] = '\0';
    while (*p != '\0') {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        size_t plen = strcspn(p, "/");
        size_t slen = strcspn(s, "/");
        if (plen == 8 && strncmp(p, ":message", 8) == 0) {
            if (!message_segment_copy(s, slen, out->message))
                return false;
        } else if (plen == 7 && strncmp(p, ":report", 7) == 0) {
            if (!message_segment_copy(s, slen, out->report))
                return false;
        } else if (p[0] == ':') {
            char *dst;
            if (plen == 5 && strncmp(p, ":conv", 5) == 0)
                dst = out->conv;
            else
                dst = out->user;
            if (!uuid_valid_n(s, slen))
                return false;
            memcpy(dst, s, UUID_STR_LEN);
            dst[UUID_STR_LEN] = '\0';
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *s == '\0';
}

route_result router_match(http_method method, const char *path,
                          route_match *out)
{
    route_match tmp;
    unsigned allowed = 0;

    memset(out, 0, sizeof *out);
    if (path == NULL || path[0] != '/' ||
        strnlen(path, ROUTER_PATH_MAX + 1) > ROUTER_PATH_MAX)
        return ROUTE_NOT_FOUND;
    if (method == HTTP_HEAD)
        method = HTTP_GET;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!pattern_match(routes[i].pattern, path, &tmp))
            continue;
        if (routes[i].method == method) {
            *out = tmp;
            out->id = routes[i].id;
            return ROUTE_FOUND;
        }
        allowed |= (unsigned)routes[i].method;
        if (routes[i].method == HTTP_GET)
            allowed |= HTTP_HEAD;
    }
    if (allowed == 0)
        return ROUTE_NOT_FOUND;
    out->allowed = allowed;
    return ROUTE_BAD_METHOD;
}

char *router_allow_header(unsigned allowed, char *buf, size_t buflen)
{
    static const struct {
        http_method m;
        const char *name;
    } order[] = {
        {HTTP_GET, "GET"}, {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
        {HTTP_PUT, "PUT"}, {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
    };
    size_t used = 0;

    if (buflen == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(allowed & (unsigned)order[i].m))
            continue;
        int n = snprintf(buf + used, buflen - used, "%s%s",
                         used == 0 ? "" : ", ", order[i].name);
        if (n < 0 || (size_t)n >= buflen - used) {
            buf[used] = '\0'; /* drop the partial name */
            break;
        }
        used += (size_t)n;
    }
    return buf;
}
