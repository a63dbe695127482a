/*
 * router.h - maps (method, raw URL path) to a route and its path parameters.
 *
 * Pure logic over strings.  The path is matched as it arrived, without
 * percent-decoding (the server installs an unescape callback that leaves it
 * raw): every route segment is a fixed ASCII word, a canonical lower-case
 * UUID or a decimal id (":message", ":report"), so an encoded or otherwise
 * malformed segment simply matches nothing and the answer is 404.  A path
 * that matches a route under another method gives ROUTE_BAD_METHOD and the
 * methods that would match.
 */
#ifndef PARLEY_API_ROUTER_H
#define PARLEY_API_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "uuid.h"

#define ROUTER_PATH_MAX 1024

typedef enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_PATCH = 1 << 4,
    HTTP_DELETE = 1 << 5,
    HTTP_OTHER = 1 << 6,
} http_method;

typedef enum route_id {
    ROUTE_HEALTHZ,
    ROUTE_AUTH_REGISTER,
    ROUTE_AUTH_LOGIN,
    ROUTE_AUTH_REFRESH,
    ROUTE_AUTH_LOGOUT,
    ROUTE_ME,
    ROUTE_USER_GET,
    ROUTE_CONV_CREATE,
    ROUTE_CONV_LIST,
    ROUTE_CONV_GET,
    ROUTE_MEMBER_ADD,
    ROUTE_MEMBER_REMOVE,
    ROUTE_MEMBER_UPDATE,
    ROUTE_MESSAGES_LIST,
    ROUTE_ME_UPDATE,
    ROUTE_CONV_READ,
    ROUTE_CONV_MUTE,
    ROUTE_CONV_UNMUTE,
    ROUTE_MESSAGE_EDIT,
    ROUTE_MESSAGE_DELETE,
    ROUTE_SYNC,
    ROUTE_REPORT_CREATE,
    ROUTE_ADMIN_REPORTS,
    ROUTE_ADMIN_REPORT_UPDATE,
    ROUTE_ADMIN_BAN,
    ROUTE_ADMIN_UNBAN,
    ROUTE_ADMIN_HIDE,
    ROUTE_ADMIN_AUDIT,
    ROUTE_ADMIN_STATS,
    ROUTE_COUNT
} route_id;

typedef enum route_result {
    ROUTE_FOUND,
    ROUTE_NOT_FOUND,
    ROUTE_BAD_METHOD,
} route_result;

typedef struct route_match {
    route_id id;
    char conv[UUID_STR_LEN + 1]; /* ":conv" segment, "" when none */
    char user[UUID_STR_LEN + 1]; /* ":user" segment, "" when none */
    /* ":message" segment, a decimal message id as common/ids.h id_parse
     * accepts it (no sign, no leading zero, at most INT64_MAX), "" when
     * none */
    char message[PARLEY_ID_STR_MAX + 1];
    /* ":report" segment, a report id under the same rules, "" when none */
    char report[PARLEY_ID_STR_MAX + 1];
    unsigned allowed; /* on ROUTE_BAD_METHOD: http_method bits */
} route_match;

/* Classifies a request method name.  HEAD is answered as GET. */
http_method http_method_parse(const char *name);

/* Matches path (NUL-terminated, raw) for method.  On ROUTE_FOUND fills id
 * and the captured segments; on ROUTE_BAD_METHOD fills allowed. */
route_result router_match(http_method method, const char *path,
                          route_match *out);

/* Writes an Allow header value ("GET, POST") for the bits in allowed into
 * buf.  Returns buf. */
char *router_allow_header(unsigned allowed, char *buf, size_t buflen);

#endif
