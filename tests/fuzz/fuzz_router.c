/*
 * fuzz_router.c - libFuzzer target for httpapi/router.c: router_match,
 * http_method_parse and router_allow_header.
 *
 * Input: byte 0 picks the method (mod 7: GET, HEAD, POST, PUT, PATCH,
 * DELETE, other), byte 1 the buffer size given to router_allow_header, the
 * rest is the raw request path (as a C string).
 *
 * Invariants:
 *   - a match rebuilds the path exactly from the route's pattern (copied
 *     here from the API's documented routes) and the captured :conv and
 *     :user segments, which are canonical uuids, and :message and
 *     :report, canonical decimal ids; the route's method is the one asked for (HEAD answered
 *     as GET);
 *   - the verdicts for the seven methods are consistent: a path either
 *     matches no method (404 for all) or is found for the methods in the
 *     Allow set and refused with that same set for all others;
 *   - router_allow_header writes, into a buffer of exactly the given size,
 *     a NUL-terminated prefix of the full header that ends between names.
 */
#include "fuzz_common.h"
#include "httpapi/router.h"

static const http_method methods[] = {HTTP_GET,   HTTP_HEAD,  HTTP_POST,
                                      HTTP_PUT,   HTTP_PATCH, HTTP_DELETE,
                                      HTTP_OTHER};
static const char *const method_names[] = {"GET",   "HEAD",   "POST", "PUT",
                                           "PATCH", "DELETE", NULL};

/* The routes of router.h's table, by route id (see openapi.yaml). */
static const struct {
    route_id id;
    http_method method;
    const char *pattern;
} routes[] = {
    {ROUTE_HEALTHZ, HTTP_GET, "/healthz"},
    {ROUTE_AUTH_REGISTER, HTTP_POST, "/v1/auth/register"},
    {ROUTE_AUTH_LOGIN, HTTP_POST, "/v1/auth/login"},
    {ROUTE_AUTH_REFRESH, HTTP_POST, "/v1/auth/refresh"},
    {ROUTE_AUTH_LOGOUT, HTTP_POST, "/v1/auth/logout"},
    {ROUTE_ME, HTTP_GET, "/v1/me"},
    {ROUTE_USER_GET, HTTP_GET, "/v1/users/:user"},
    {ROUTE_CONV_CREATE, HTTP_POST, "/v1/conversations"},
    {ROUTE_CONV_LIST, HTTP_GET, "/v1/conversations"},
    {ROUTE_CONV_GET, HTTP_GET, "/v1/conversations/:conv"},
    {ROUTE_MEMBER_ADD, HTTP_POST, "/v1/conversations/:conv/members"},
    {ROUTE_MEMBER_REMOVE, HTTP_DELETE, "/v1/conversations/:conv/members/:user"},
    {ROUTE_MEMBER_UPDATE, HTTP_PATCH, "/v1/conversations/:conv/members/:user"},
    {ROUTE_MESSAGES_LIST, HTTP_GET, "/v1/conversations/:conv/messages"},
    {ROUTE_ME_UPDATE, HTTP_PATCH, "/v1/me"},
    {ROUTE_CONV_READ, HTTP_POST, "/v1/conversations/:conv/read"},
    {ROUTE_CONV_MUTE, HTTP_PUT, "/v1/conversations/:conv/mute"},
    {ROUTE_CONV_UNMUTE, HTTP_DELETE, "/v1/conversations/:conv/mute"},
    {ROUTE_MESSAGE_EDIT, HTTP_PATCH, "/v1/messages/:message"},
    {ROUTE_MESSAGE_DELETE, HTTP_DELETE, "/v1/messages/:message"},
    {ROUTE_SYNC, HTTP_GET, "/v1/sync"},
    {ROUTE_REPORT_CREATE, HTTP_POST, "/v1/reports"},
    {ROUTE_ADMIN_REPORTS, HTTP_GET, "/v1/admin/reports"},
    {ROUTE_ADMIN_REPORT_UPDATE, HTTP_PATCH, "/v1/admin/reports/:report"},
    {ROUTE_ADMIN_BAN, HTTP_POST, "/v1/admin/users/:user/ban"},
    {ROUTE_ADMIN_UNBAN, HTTP_DELETE, "/v1/admin/users/:user/ban"},
    {ROUTE_ADMIN_HIDE, HTTP_POST, "/v1/admin/messages/:message/hide"},
    {ROUTE_ADMIN_AUDIT, HTTP_GET, "/v1/admin/audit"},
    {ROUTE_ADMIN_STATS, HTTP_GET, "/v1/admin/stats"},
};

/* Rebuilds a path from the pattern of route id and the captures. */
static void rebuild(const route_match *m, char *out, size_t outlen,
                    http_method *method)
{
    const char *p = NULL;

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].id == m->id) {
            p = routes[i].pattern;
            *method = routes[i].method;
        }
    }
    FUZZ_CHECK(p != NULL);
    out[0] = '\0';
    while (*p != '\0') {
        const char *sub = NULL;
        size_t skip = 1;
        if (strncmp(p, ":conv", 5) == 0) {
            sub = m->conv;
            skip = 5;
        } else if (strncmp(p, ":user", 5) == 0) {
            sub = m->user;
            skip = 5;
        } else if (strncmp(p, ":message", 8) == 0) {
            FUZZ_CHECK(ref_decimal_id(m->message));
            strncat(out, m->message, outlen - strlen(out) - 1);
            p += 8;
            continue;
        } else if (strncmp(p, ":report", 7) == 0) {
            FUZZ_CHECK(ref_decimal_id(m->report));
            strncat(out, m->report, outlen - strlen(out) - 1);
            p += 7;
            continue;
        }
        if (sub != NULL) {
            FUZZ_CHECK(ref_uuid_valid(sub, strlen(sub)));
            strncat(out, sub, outlen - strlen(out) - 1);
        } else {
            strncat(out, p, 1);
        }
        p += skip;
    }
}

static bool pattern_has(route_id id, const char *what)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].id == id)
            return strstr(routes[i].pattern, what) != NULL;
    }
    return false;
}

static void check_allow_header(unsigned allowed, size_t buflen)
{
    char full[128];
    char *buf = malloc(buflen > 0 ? buflen : 1);
    char *ret;
    size_t n;

    FUZZ_CHECK(buf != NULL);
    router_allow_header(allowed, full, sizeof full);
    ret = router_allow_header(allowed, buf, buflen);
    FUZZ_CHECK(ret == buf);
    if (buflen > 0) {
        n = strnlen(buf, buflen);
        FUZZ_CHECK(n < buflen);
        FUZZ_CHECK(strncmp(buf, full, n) == 0);
        FUZZ_CHECK(n == 0 || full[n] == '\0' || full[n] == ',');
        if (buflen > strlen(full))
            FUZZ_CHECK(strcmp(buf, full) == 0);
    }
    free(buf);
    /* The full header names exactly the bits set. */
    for (size_t i = 0; i < 6; i++) {
        bool named = false;
        const char *s = full;
        size_t len = strlen(method_names[i]);
        while (s != NULL && *s != '\0') {
            if (strncmp(s, method_names[i], len) == 0 &&
                (s[len] == '\0' || s[len] == ','))
                named = true;
            s = strchr(s, ',');
            if (s != NULL)
                s += 2;
        }
        FUZZ_CHECK(named == ((allowed & methods[i]) != 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    route_match m, per[7];
    route_result r[7];
    char *path, rebuilt[ROUTER_PATH_MAX + 64];
    size_t which;
    unsigned found_bits = 0, allowed = 0;
    bool any = false;

    if (size < 2)
        return 0;
    which = data[0] % 7;
    path = fuzz_cstr(data + 2, size - 2);

    FUZZ_CHECK(http_method_parse(path) ==
               (strcmp(path, "GET") == 0      ? HTTP_GET
                : strcmp(path, "HEAD") == 0   ? HTTP_HEAD
                : strcmp(path, "POST") == 0   ? HTTP_POST
                : strcmp(path, "PUT") == 0    ? HTTP_PUT
                : strcmp(path, "PATCH") == 0  ? HTTP_PATCH
                : strcmp(path, "DELETE") == 0 ? HTTP_DELETE
                                              : HTTP_OTHER));

    for (size_t i = 0; i < 7; i++) {
        r[i] = router_match(methods[i], path, &per[i]);
        FUZZ_CHECK(r[i] == ROUTE_FOUND || r[i] == ROUTE_NOT_FOUND ||
                   r[i] == ROUTE_BAD_METHOD);
        if (r[i] != ROUTE_NOT_FOUND)
            any = true;
        if (r[i] == ROUTE_FOUND) {
            http_method want;
            found_bits |= methods[i];
            rebuild(&per[i], rebuilt, sizeof rebuilt, &want);
            FUZZ_CHECK(strcmp(rebuilt, path) == 0);
            FUZZ_CHECK(want == methods[i] ||
                       (methods[i] == HTTP_HEAD && want == HTTP_GET));
            if (!pattern_has(per[i].id, ":conv"))
                FUZZ_CHECK(per[i].conv[0] == '\0');
            if (!pattern_has(per[i].id, ":user"))
                FUZZ_CHECK(per[i].user[0] == '\0');
            if (!pattern_has(per[i].id, ":message"))
                FUZZ_CHECK(per[i].message[0] == '\0');
            if (!pattern_has(per[i].id, ":report"))
                FUZZ_CHECK(per[i].report[0] == '\0');
            FUZZ_CHECK(strlen(path) <= ROUTER_PATH_MAX);
        } else if (r[i] == ROUTE_BAD_METHOD) {
            FUZZ_CHECK(per[i].allowed != 0);
            FUZZ_CHECK((per[i].allowed & methods[i]) == 0);
            FUZZ_CHECK((per[i].allowed & ~(unsigned)(HTTP_GET | HTTP_HEAD |
                                                     HTTP_POST | HTTP_PUT |
                                                     HTTP_PATCH |
                                                     HTTP_DELETE)) == 0);
            FUZZ_CHECK(((per[i].allowed & HTTP_GET) != 0) ==
                       ((per[i].allowed & HTTP_HEAD) != 0));
            if (allowed != 0)
                FUZZ_CHECK(per[i].allowed == allowed);
            allowed = per[i].allowed;
        } else {
            FUZZ_CHECK(per[i].allowed == 0);
        }
    }
    if (any) {
        /* Found for exactly the methods the refusals list. */
        for (size_t i = 0; i < 7; i++)
            FUZZ_CHECK(r[i] != ROUTE_NOT_FOUND);
        if (allowed != 0)
            FUZZ_CHECK(found_bits == allowed);
    }
    FUZZ_CHECK(((found_bits & HTTP_GET) != 0) ==
               ((found_bits & HTTP_HEAD) != 0));
    FUZZ_CHECK(r[0] == r[1]); /* HEAD is answered as GET */

    m = per[which];
    check_allow_header(r[which] == ROUTE_BAD_METHOD ? m.allowed
                                                    : (unsigned)data[0] & 0x3f,
                       data[1]);
    free(path);
    return 0;
}
