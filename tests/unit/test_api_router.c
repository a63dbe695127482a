/*
 * test_api_router.c - unit tests for httpapi/router.c: every route matches
 * with its captures; paths that are almost routes (trailing or doubled
 * slashes, upper-case or percent-encoded uuids, "..", NUL, overlong) match
 * nothing; message ids in paths follow id_parse exactly (no sign, leading
 * zero, overflow or look-alike digits); a known path under the wrong
 * method gives 405 with the methods that would do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "httpapi/router.h"

#define CONV "0f8fad5b-d9cb-469f-a165-70867728950e"
#define USER "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define MSG "384092466707431424"

static route_result match(const char *method, const char *path, route_match *m)
{
    return router_match(http_method_parse(method), path, m);
}

static void expect_route(const char *method, const char *path, route_id id)
{
    route_match m;

    assert_int_equal(match(method, path, &m), ROUTE_FOUND);
    assert_int_equal(m.id, id);
}

static void expect_not_found(const char *method, const char *path)
{
    route_match m;

    assert_int_equal(match(method, path, &m), ROUTE_NOT_FOUND);
}

static void test_every_route_matches(void **state)
{
    (void)state;
    expect_route("GET", "/healthz", ROUTE_HEALTHZ);
    expect_route("POST", "/v1/auth/register", ROUTE_AUTH_REGISTER);
    expect_route("POST", "/v1/auth/login", ROUTE_AUTH_LOGIN);
    expect_route("POST", "/v1/auth/refresh", ROUTE_AUTH_REFRESH);
    expect_route("POST", "/v1/auth/logout", ROUTE_AUTH_LOGOUT);
    expect_route("GET", "/v1/me", ROUTE_ME);
    expect_route("GET", "/v1/users/" USER, ROUTE_USER_GET);
    expect_route("POST", "/v1/conversations", ROUTE_CONV_CREATE);
    expect_route("GET", "/v1/conversations", ROUTE_CONV_LIST);
    expect_route("GET", "/v1/conversations/" CONV, ROUTE_CONV_GET);
    expect_route("POST", "/v1/conversations/" CONV "/members",
                 ROUTE_MEMBER_ADD);
    expect_route("DELETE", "/v1/conversations/" CONV "/members/" USER,
                 ROUTE_MEMBER_REMOVE);
    expect_route("PATCH", "/v1/conversations/" CONV "/members/" USER,
                 ROUTE_MEMBER_UPDATE);
    expect_route("GET", "/v1/conversations/" CONV "/messages",
                 ROUTE_MESSAGES_LIST);
    expect_route("PATCH", "/v1/me", ROUTE_ME_UPDATE);
    expect_route("POST", "/v1/conversations/" CONV "/read", ROUTE_CONV_READ);
    expect_route("PUT", "/v1/conversations/" CONV "/mute", ROUTE_CONV_MUTE);
    expect_route("DELETE", "/v1/conversations/" CONV "/mute",
                 ROUTE_CONV_UNMUTE);
    expect_route("PATCH", "/v1/messages/" MSG, ROUTE_MESSAGE_EDIT);
    expect_route("DELETE", "/v1/messages/" MSG, ROUTE_MESSAGE_DELETE);
    expect_route("GET", "/v1/sync", ROUTE_SYNC);
}

static void test_message_ids(void **state)
{
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        "01",
        "00",
        "1.0",
        "1e3",
        "0x1f",
        "12a",
        "abc",
        "9223372036854775808",  /* INT64_MAX + 1 */
        "18446744073709551616", /* wraps to 0 in 64 bits */
        "123456789012345678901",
        "%31",      /* an encoded digit is not a digit */
        "\xd9\xa1", /* Arabic-Indic digit one */
        " 1",
        "1 ",
        MSG "/",
        MSG "/x",
        CONV,
    };
    char path[128];
    route_match m;

    (void)state;
    assert_int_equal(match("PATCH", "/v1/messages/" MSG, &m), ROUTE_FOUND);
    assert_string_equal(m.message, MSG);
    assert_string_equal(m.conv, "");
    assert_string_equal(m.user, "");
    assert_int_equal(match("DELETE", "/v1/messages/0", &m), ROUTE_FOUND);
    assert_string_equal(m.message, "0");
    assert_int_equal(match("DELETE", "/v1/messages/9223372036854775807", &m),
                     ROUTE_FOUND);
    assert_string_equal(m.message, "9223372036854775807");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/v1/messages/%s", bad[i]);
        if (match("PATCH", path, &m) != ROUTE_NOT_FOUND)
            fail_msg("%s matched", path);
    }
    /* other routes leave the capture empty */
    assert_int_equal(match("GET", "/v1/conversations/" CONV, &m), ROUTE_FOUND);
    assert_string_equal(m.message, "");
    /* a message id is not a uuid and the other way round */
    expect_not_found("GET", "/v1/users/" MSG);
    expect_not_found("POST", "/v1/conversations/" MSG "/read");
    expect_not_found("GET", "/v1/messages");
    expect_not_found("GET", "/v1/sync/");
    expect_not_found("GET", "/v1/sync/" MSG);
}

static void test_captures(void **state)
{
    route_match m;

    (void)state;
    assert_int_equal(
        match("DELETE", "/v1/conversations/" CONV "/members/" USER, &m),
        ROUTE_FOUND);
    assert_string_equal(m.conv, CONV);
    assert_string_equal(m.user, USER);

    assert_int_equal(match("GET", "/v1/users/" USER, &m), ROUTE_FOUND);
    assert_string_equal(m.user, USER);
    assert_string_equal(m.conv, "");

    assert_int_equal(match("GET", "/v1/me", &m), ROUTE_FOUND);
    assert_string_equal(m.conv, "");
    assert_string_equal(m.user, "");
}

static void test_head_is_answered_as_get(void **state)
{
    (void)state;
    expect_route("HEAD", "/healthz", ROUTE_HEALTHZ);
    expect_route("HEAD", "/v1/conversations", ROUTE_CONV_LIST);
}

static void test_near_misses_are_not_found(void **state)
{
    (void)state;
    expect_not_found("GET", "");
    expect_not_found("GET", "/");
    expect_not_found("GET", "v1/me");
    expect_not_found("GET", "/v1/me/");
    expect_not_found("GET", "//v1/me");
    expect_not_found("GET", "/v1//me");
    expect_not_found("GET", "/v1/me?x=1"); /* the query is never part of it */
    expect_not_found("GET", "/V1/me");
    expect_not_found("GET", "/v1/mex");
    expect_not_found("GET", "/v1/m");
    expect_not_found("GET", "/v2/me");
    expect_not_found("GET", "/v1/conversations/");
    expect_not_found("GET", "/v1/conversations/" CONV "/");
    expect_not_found("GET", "/v1/conversations/" CONV "/messages/");
    expect_not_found("GET", "/v1/conversations/" CONV "/members/" USER "/x");
    expect_not_found("GET", "/v1/users/" USER "/" USER);
    expect_not_found("GET", "/v1/users/..");
    expect_not_found("GET", "/v1/users/../me");
    expect_not_found("GET", "/v1/users/./" USER);
    expect_not_found("GET", "/healthz/");
}

static void test_malformed_uuids_are_not_found(void **state)
{
    (void)state;
    expect_not_found("GET", "/v1/users/not-a-uuid");
    expect_not_found("GET", "/v1/users/");
    /* upper case */
    expect_not_found("GET", "/v1/users/7C9E6679-7425-40DE-944B-E07FC1F90AE7");
    /* one character short and long */
    expect_not_found("GET", "/v1/users/7c9e6679-7425-40de-944b-e07fc1f90ae");
    expect_not_found("GET", "/v1/users/7c9e6679-7425-40de-944b-e07fc1f90ae77");
    /* no dashes, braces */
    expect_not_found("GET", "/v1/users/7c9e6679742540de944be07fc1f90ae7");
    expect_not_found("GET", "/v1/users/{7c9e6679-7425-40de-944b-e07fc1f90ae7}");
    /* percent-encoded: the router sees raw paths and never decodes */
    expect_not_found("GET", "/v1/users/%37c9e6679-7425-40de-944b-e07fc1f90ae7");
    expect_not_found("GET", "/v1/users/7c9e6679-7425-40de-944b-e07fc1f90ae%37");
    expect_not_found("GET", "/v1/%6de");
    expect_not_found("GET", "/v1/conversations%2F" CONV);
    expect_not_found("GET", "/v1/conversations/" CONV "%2Fmessages");
    /* NUL: an encoded one is just text, a real one ends the string */
    expect_not_found("GET", "/v1/users/" USER "%00");
    expect_not_found("GET", "/v1/users/7c9e6679-7425-40de-944b-e07fc1f9\0ae7");
    /* a uuid in the conversation slot of a user route and vice versa is
     * fine: both are uuids; a word in a uuid slot is not */
    expect_not_found("GET", "/v1/conversations/members");
    expect_not_found("GET", "/v1/conversations/me/messages");
}

static void test_overlong_paths_are_not_found(void **state)
{
    char path[ROUTER_PATH_MAX + 64];

    (void)state;
    memset(path, 'a', sizeof path);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    expect_not_found("GET", path);
    /* A real route followed by a very long tail. */
    snprintf(path, sizeof path, "/v1/me/%0*d", (int)ROUTER_PATH_MAX, 0);
    expect_not_found("GET", path);
    expect_not_found("GET", NULL);
}

static void test_wrong_method_is_405_with_allowed(void **state)
{
    route_match m;
    char allow[64];

    (void)state;
    assert_int_equal(match("PUT", "/v1/me", &m), ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "GET, HEAD, PATCH");

    assert_int_equal(match("GET", "/v1/messages/" MSG, &m), ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "PATCH, DELETE");

    assert_int_equal(match("POST", "/v1/conversations/" CONV "/mute", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "PUT, DELETE");

    assert_int_equal(match("GET", "/v1/conversations/" CONV "/read", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "POST");

    assert_int_equal(match("POST", "/v1/sync", &m), ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "GET, HEAD");

    assert_int_equal(match("DELETE", "/v1/conversations", &m),
                     ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "GET, HEAD, POST");

    assert_int_equal(
        match("GET", "/v1/conversations/" CONV "/members/" USER, &m),
        ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "PATCH, DELETE");

    assert_int_equal(match("GET", "/v1/auth/login", &m), ROUTE_BAD_METHOD);
    assert_string_equal(router_allow_header(m.allowed, allow, sizeof allow),
                        "POST");

    /* Unknown and lower-case methods are methods we do not serve. */
    assert_int_equal(match("BREW", "/v1/me", &m), ROUTE_BAD_METHOD);
    assert_int_equal(match("get", "/v1/me", &m), ROUTE_BAD_METHOD);
    assert_int_equal(match("OPTIONS", "/healthz", &m), ROUTE_BAD_METHOD);

    /* A wrong method on an unknown path is still 404. */
    assert_int_equal(match("PUT", "/v1/nothing", &m), ROUTE_NOT_FOUND);
}

static void test_allow_header_fits_small_buffers(void **state)
{
    char small[8];

    (void)state;
    router_allow_header(HTTP_GET | HTTP_POST | HTTP_DELETE, small,
                        sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_string_equal(small, "GET");
    router_allow_header(0, small, sizeof small);
    assert_string_equal(small, "");
}

static void test_method_names(void **state)
{
    (void)state;
    assert_int_equal(http_method_parse("GET"), HTTP_GET);
    assert_int_equal(http_method_parse("PATCH"), HTTP_PATCH);
    assert_int_equal(http_method_parse("DELETE"), HTTP_DELETE);
    assert_int_equal(http_method_parse("GETX"), HTTP_OTHER);
    assert_int_equal(http_method_parse(""), HTTP_OTHER);
    assert_int_equal(http_method_parse(NULL), HTTP_OTHER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_matches),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_message_ids),
        cmocka_unit_test(test_head_is_answered_as_get),
        cmocka_unit_test(test_near_misses_are_not_found),
        cmocka_unit_test(test_malformed_uuids_are_not_found),
        cmocka_unit_test(test_overlong_paths_are_not_found),
        cmocka_unit_test(test_wrong_method_is_405_with_allowed),
        cmocka_unit_test(test_allow_header_fits_small_buffers),
        cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
