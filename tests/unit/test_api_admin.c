/*
 * test_api_admin.c - unit tests for the pure parts of the admin and report
 * endpoints (httpapi/handlers_admin.c, httpapi/handlers_reports.c): who
 * counts as an admin, reasons, ban bodies (until in the future and before
 * 10000), paging parameters, report bodies and statuses, and the routes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpapi/handlers_admin.h"
#include "httpapi/handlers_reports.h"
#include "httpapi/router.h"

#define NOW 1767225600000LL /* 2026-01-01T00:00:00Z in unix ms */
#define USER "7c9e6679-7425-40de-944b-e07fc1f90ae7"

static json_t *body(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

/* The body last parsed by ban_rc or report_rc, whose results point into
 * it: kept until the next call. */
static json_t *kept;

static void keep(json_t *j)
{
    json_decref(kept);
    kept = j;
}

/* A JSON object {"reason": "<n copies of unit>"}. */
static json_t *reason_of(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    json_t *j;

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    j = json_pack("{s:s}", "reason", s);
    free(s);
    assert_non_null(j);
    return j;
}

static void test_only_admin_claim_and_admin_account_are_admin(void **state)
{
    (void)state;
    assert_true(admin_allowed(TOKEN_ROLE_ADMIN, true));
    assert_false(admin_allowed(TOKEN_ROLE_ADMIN, false)); /* demoted */
    assert_false(admin_allowed(TOKEN_ROLE_USER, true));   /* promoted later */
    assert_false(admin_allowed(TOKEN_ROLE_USER, false));
    assert_false(admin_allowed(TOKEN_ROLE_DEVICE, true));
    assert_false(admin_allowed(TOKEN_ROLE_DEVICE, false));
}

static int reason_rc(json_t *j, const char **reason)
{
    const char *why = NULL;
    int rc = moderation_reason_parse(j, reason, &why);

    if (rc != 0)
        assert_non_null(why);
    json_decref(j);
    return rc;
}

static void test_reasons(void **state)
{
    const char *r = "x";

    (void)state;
    assert_int_equal(reason_rc(body("{}"), &r), 0);
    assert_null(r);
    r = "x";
    assert_int_equal(reason_rc(body("{\"reason\":null}"), &r), 0);
    assert_null(r);
    assert_int_equal(reason_rc(reason_of("a", 1), &r), 0);
    assert_int_equal(reason_rc(reason_of("a", 1000), &r), 0);
    /* Characters, not bytes: 1000 two-byte and four-byte characters. */
    assert_int_equal(reason_rc(reason_of("\xc3\xa9", 1000), &r), 0);
    assert_int_equal(reason_rc(reason_of("\xf0\x9f\x98\x80", 1000), &r), 0);
    assert_int_equal(
        reason_rc(body("{\"reason\":\" line one\\nline two\"}"), &r), 0);

    assert_int_equal(reason_rc(reason_of("a", 1001), &r), -1);
    assert_int_equal(reason_rc(reason_of("\xc3\xa9", 1001), &r), -1);
    assert_int_equal(reason_rc(body("{\"reason\":\"\"}"), &r), -1);
    assert_int_equal(reason_rc(body("{\"reason\":\" \\t\\r\\n \"}"), &r), -1);
    assert_int_equal(reason_rc(body("{\"reason\":42}"), &r), -1);
    assert_int_equal(reason_rc(body("{\"reason\":[\"x\"]}"), &r), -1);
    assert_int_equal(reason_rc(body("{\"reason\":true}"), &r), -1);
}

static int ban_rc(const char *text, ban_request *b)
{
    json_t *j = body(text);
    const char *why = NULL;
    int rc = ban_request_parse(j, NOW, b, &why);

    if (rc != 0)
        assert_non_null(why);
    keep(j);
    return rc;
}

static void test_ban_bodies(void **state)
{
    ban_request b;
    char text[64];

    (void)state;
    assert_int_equal(ban_rc("{}", &b), 0);
    assert_false(b.has_until);
    assert_null(b.reason);
    assert_int_equal(ban_rc("{\"until\":null,\"reason\":\"spam\"}", &b), 0);
    assert_false(b.has_until);
    assert_string_equal(b.reason, "spam");
    snprintf(text, sizeof text, "{\"until\":%lld}", NOW + 1);
    assert_int_equal(ban_rc(text, &b), 0);
    assert_true(b.has_until);
    assert_int_equal(b.until_ms, NOW + 1);
    snprintf(text, sizeof text, "{\"until\":%lld}", BAN_UNTIL_MAX_MS);
    assert_int_equal(ban_rc(text, &b), 0);
    assert_int_equal(b.until_ms, BAN_UNTIL_MAX_MS);
    /* Unknown members are ignored, as everywhere in the API. */
    assert_int_equal(ban_rc("{\"forever\":true}", &b), 0);

    snprintf(text, sizeof text, "{\"until\":%lld}", NOW);
    assert_int_equal(ban_rc(text, &b), -1); /* not in the future */
    snprintf(text, sizeof text, "{\"until\":%lld}", NOW - 1);
    assert_int_equal(ban_rc(text, &b), -1);
    snprintf(text, sizeof text, "{\"until\":%lld}", BAN_UNTIL_MAX_MS + 1);
    assert_int_equal(ban_rc(text, &b), -1);
    assert_int_equal(ban_rc("{\"until\":-1}", &b), -1);
    assert_int_equal(ban_rc("{\"until\":1.8e12}", &b), -1);
    assert_int_equal(ban_rc("{\"until\":\"1800000000000\"}", &b), -1);
    assert_int_equal(ban_rc("{\"until\":true}", &b), -1);
    assert_int_equal(ban_rc("{\"reason\":\"\"}", &b), -1);
    /* A bad reason fails the ban even with a good until. */
    snprintf(text, sizeof text, "{\"until\":%lld,\"reason\":7}", NOW + 1000);
    assert_int_equal(ban_rc(text, &b), -1);
}

static int page_rc(const query_param *p, size_t n, bool with_status,
                   admin_page *out)
{
    const char *why = NULL;
    int rc = admin_page_parse(p, n, with_status, out, &why);

    if (rc != 0)
        assert_non_null(why);
    return rc;
}

static void test_paging(void **state)
{
    admin_page pg;
    query_param before[] = {{"before", "1234"}};
    query_param big[] = {{"before", "9223372036854775807"}};
    query_param l1[] = {{"limit", "1"}}, l200[] = {{"limit", "200"}};
    query_param open[] = {{"status", "open"}};
    query_param dismissed[] = {{"status", "dismissed"}, {"other", "x"}};
    static const query_param bad[][2] = {
        {{"before", ""}, {"x", "y"}},
        {{"before", "-1"}, {"x", "y"}},
        {{"before", "01"}, {"x", "y"}},
        {{"before", "1a"}, {"x", "y"}},
        {{"before", "9223372036854775808"}, {"x", "y"}},
        {{"before", NULL}, {"x", "y"}},
        {{"limit", "0"}, {"x", "y"}},
        {{"limit", "201"}, {"x", "y"}},
        {{"limit", ""}, {"x", "y"}},
        {{"limit", " 5"}, {"x", "y"}},
        {{"limit", "1"}, {"limit", "2"}},
        {{"before", "1"}, {"before", "1"}},
    };

    (void)state;
    assert_int_equal(page_rc(NULL, 0, true, &pg), 0);
    assert_false(pg.has_before);
    assert_int_equal(pg.limit, ADMIN_LIMIT_DEFAULT);
    assert_null(pg.status);
    assert_int_equal(page_rc(before, 1, false, &pg), 0);
    assert_true(pg.has_before);
    assert_int_equal(pg.before, 1234);
    assert_int_equal(page_rc(big, 1, false, &pg), 0);
    assert_int_equal(pg.before, INT64_MAX);
    assert_int_equal(page_rc(l1, 1, false, &pg), 0);
    assert_int_equal(pg.limit, 1);
    assert_int_equal(page_rc(l200, 1, false, &pg), 0);
    assert_int_equal(pg.limit, 200);
    assert_int_equal(page_rc(open, 1, true, &pg), 0);
    assert_string_equal(pg.status, "open");
    assert_int_equal(page_rc(dismissed, 2, true, &pg), 0);
    assert_string_equal(pg.status, "dismissed");
    /* Where there is no status, it is ignored like any other parameter. */
    assert_int_equal(page_rc(open, 1, false, &pg), 0);
    assert_null(pg.status);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (page_rc(bad[i], 2, true, &pg) != -1)
            fail_msg("accepted bad paging case %zu", i);
    }
}

static void test_bad_statuses(void **state)
{
    static const char *const bad[] = {"", "OPEN", "closed", "open ", "all"};
    query_param p[2] = {{"status", NULL}, {"x", "y"}};
    admin_page pg;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p[0].value = (char *)bad[i];
        if (page_rc(p, 1, true, &pg) != -1)
            fail_msg("accepted status '%s'", bad[i]);
    }
    p[0].value = "open";
    p[1].key = "status";
    p[1].value = "open";
    assert_int_equal(page_rc(p, 2, true, &pg), -1); /* repeated */
}

static int report_rc(const char *text, report_request *q)
{
    json_t *j = body(text);
    const char *why = NULL;
    int rc = report_request_parse(j, q, &why);

    if (rc != 0)
        assert_non_null(why);
    keep(j);
    return rc;
}

static void test_report_bodies(void **state)
{
    report_request q;

    (void)state;
    assert_int_equal(
        report_rc("{\"message\":\"1234\",\"reason\":\"spam\"}", &q), 0);
    assert_string_equal(q.message, "1234");
    assert_null(q.user);
    assert_string_equal(q.reason, "spam");
    assert_int_equal(report_rc("{\"user\":\"" USER "\",\"reason\":\"r\"}", &q),
                     0);
    assert_null(q.message);
    assert_string_equal(q.user, USER);
    assert_int_equal(report_rc("{\"message\":\"0\",\"user\":\"" USER
                               "\",\"reason\":\"r\",\"extra\":1}",
                               &q),
                     0);
    assert_int_equal(report_rc("{\"message\":null,\"user\":\"" USER
                               "\",\"reason\":\"r\"}",
                               &q),
                     0);
    assert_null(q.message);

    static const char *const bad[] = {
        "{\"reason\":\"nothing named\"}",
        "{\"message\":null,\"user\":null,\"reason\":\"r\"}",
        "{\"message\":1234,\"reason\":\"r\"}",
        "{\"message\":\"\",\"reason\":\"r\"}",
        "{\"message\":\"01\",\"reason\":\"r\"}",
        "{\"message\":\"-1\",\"reason\":\"r\"}",
        "{\"message\":\"1 \",\"reason\":\"r\"}",
        "{\"message\":\"9223372036854775808\",\"reason\":\"r\"}",
        "{\"user\":\"7C9E6679-7425-40DE-944B-E07FC1F90AE7\",\"reason\":\"r\"}",
        "{\"user\":\"" USER "x\",\"reason\":\"r\"}",
        "{\"user\":\"nobody\",\"reason\":\"r\"}",
        "{\"user\":[],\"reason\":\"r\"}",
        "{\"user\":\"" USER "\"}",
        "{\"user\":\"" USER "\",\"reason\":null}",
        "{\"user\":\"" USER "\",\"reason\":\"\"}",
        "{\"user\":\"" USER "\",\"reason\":\"  \"}",
        "{\"user\":\"" USER "\",\"reason\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (report_rc(bad[i], &q) != -1)
            fail_msg("accepted %s", bad[i]);
    }
}

static void test_report_statuses(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"status\":null}",
        "{\"status\":\"open\"}",
        "{\"status\":\"Resolved\"}",
        "{\"status\":1}",
        "{\"status\":\"resolved \"}",
    };
    const char *why = NULL;
    json_t *j;

    (void)state;
    j = body("{\"status\":\"resolved\"}");
    assert_string_equal(report_status_parse(j, &why), "resolved");
    json_decref(j);
    j = body("{\"status\":\"dismissed\",\"reason\":\"dup\"}");
    assert_string_equal(report_status_parse(j, &why), "dismissed");
    json_decref(j);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        j = body(bad[i]);
        if (report_status_parse(j, &why) != NULL || why == NULL)
            fail_msg("accepted %s", bad[i]);
        json_decref(j);
    }
}

static void expect_route(const char *method, const char *path, route_id id,
                         route_match *m)
{
    assert_int_equal(router_match(http_method_parse(method), path, m),
                     ROUTE_FOUND);
    assert_int_equal(m->id, id);
}

static void test_routes(void **state)
{
    route_match m;
    char allow[64];

    (void)state;
    expect_route("POST", "/v1/reports", ROUTE_REPORT_CREATE, &m);
    expect_route("GET", "/v1/admin/reports", ROUTE_ADMIN_REPORTS, &m);
    expect_route("HEAD", "/v1/admin/reports", ROUTE_ADMIN_REPORTS, &m);
    expect_route("PATCH", "/v1/admin/reports/42", ROUTE_ADMIN_REPORT_UPDATE,
                 &m);
    assert_string_equal(m.report, "42");
    assert_string_equal(m.message, "");
    expect_route("POST", "/v1/admin/users/" USER "/ban", ROUTE_ADMIN_BAN, &m);
    assert_string_equal(m.user, USER);
    expect_route("DELETE", "/v1/admin/users/" USER "/ban", ROUTE_ADMIN_UNBAN,
                 &m);
    expect_route("POST", "/v1/admin/messages/384092466707431424/hide",
                 ROUTE_ADMIN_HIDE, &m);
    assert_string_equal(m.message, "384092466707431424");
    assert_string_equal(m.report, "");
    expect_route("GET", "/v1/admin/audit", ROUTE_ADMIN_AUDIT, &m);
    expect_route("GET", "/v1/admin/stats", ROUTE_ADMIN_STATS, &m);

    static const char *const none[] = {
        "/v1/admin/reports/042",
        "/v1/admin/reports/-1",
        "/v1/admin/reports/9223372036854775808",
        "/v1/admin/reports/",
        "/v1/admin/users/" USER "/ban/",
        "/v1/admin/users/7C9E6679-7425-40DE-944B-E07FC1F90AE7/ban",
        "/v1/admin/messages/01/hide",
        "/v1/admin",
        "/v1/admin/",
        "/v1/admin/stats/",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        if (router_match(HTTP_PATCH, none[i], &m) != ROUTE_NOT_FOUND ||
            router_match(HTTP_POST, none[i], &m) != ROUTE_NOT_FOUND ||
            router_match(HTTP_GET, none[i], &m) != ROUTE_NOT_FOUND)
            fail_msg("%s matched", none[i]);
    }

    assert_int_equal(router_match(HTTP_GET, "/v1/admin/users/" USER "/ban", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "POST, DELETE");
    assert_int_equal(router_match(HTTP_POST, "/v1/admin/stats", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "GET, HEAD");
    assert_int_equal(router_match(HTTP_GET, "/v1/reports", &m),
                     ROUTE_BAD_METHOD);
    assert_int_equal(router_match(HTTP_DELETE, "/v1/admin/reports/7", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "PATCH");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_admin_claim_and_admin_account_are_admin),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_ban_bodies),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_bad_statuses),
        cmocka_unit_test(test_report_bodies),
        cmocka_unit_test(test_report_statuses),
        cmocka_unit_test(test_routes),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    keep(NULL);
    return failed;
}
