/*
 * test_api_messages.c - unit tests for history_query_parse
 * (httpapi/handlers_messages.c): defaults, bounds, and the refusals (signs,
 * spaces, leading zeros, hex, int64 overflow, empty and repeated values,
 * before with after, limit outside 1..200); and the reply that carries a
 * history page as the JSON text PostgreSQL built (reply_json_text in
 * httpapi/respond.c): copied, owned, replaced and released like any other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "httpapi/handlers_messages.h"
#include "httpapi/respond.h"

static int parse1(const char *key, const char *value, history_query *q)
{
    query_param p[1] = {{(char *)key, (char *)value}};
    const char *why = NULL;
    int rc = history_query_parse(p, 1, q, &why);

    if (rc != 0)
        assert_non_null(why);
    return rc;
}

static void test_defaults(void **state)
{
    history_query q;
    const char *why;
    query_param other[] = {{"foo", "bar"}, {"x", NULL}};

    (void)state;
    assert_int_equal(history_query_parse(NULL, 0, &q, &why), 0);
    assert_int_equal(q.direction, HISTORY_LATEST);
    assert_int_equal(q.limit, 50);
    /* unknown parameters are ignored */
    assert_int_equal(history_query_parse(other, 2, &q, &why), 0);
    assert_int_equal(q.direction, HISTORY_LATEST);
}

static void test_bounds(void **state)
{
    history_query q;

    (void)state;
    assert_int_equal(parse1("before", "1234", &q), 0);
    assert_int_equal(q.direction, HISTORY_BEFORE);
    assert_int_equal(q.bound, 1234);
    assert_int_equal(parse1("after", "0", &q), 0);
    assert_int_equal(q.direction, HISTORY_AFTER);
    assert_int_equal(q.bound, 0);
    assert_int_equal(parse1("before", "9223372036854775807", &q), 0);
    assert_int_equal(q.bound, INT64_MAX);
    assert_int_equal(parse1("limit", "1", &q), 0);
    assert_int_equal(q.limit, 1);
    assert_int_equal(parse1("limit", "200", &q), 0);
    assert_int_equal(q.limit, 200);
}

static void test_bad_ids(void **state)
{
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "01",
        "00",
        "0x10",
        "1e3",
        "1.0",
        "abc",
        "12a",
        "9223372036854775808",  /* INT64_MAX + 1 */
        "18446744073709551615", /* UINT64_MAX */
        "18446744073709551616", /* wraps to 0 in 64 bits */
        "99999999999999999999999999",
        "\xd9\xa1", /* Arabic-Indic digit one */
    };
    history_query q;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse1("before", bad[i], &q) != -1)
            fail_msg("before=%s accepted", bad[i]);
        if (parse1("after", bad[i], &q) != -1)
            fail_msg("after=%s accepted", bad[i]);
        if (parse1("limit", bad[i], &q) != -1)
            fail_msg("limit=%s accepted", bad[i]);
    }
    /* present without '=' is an empty value */
    assert_int_equal(parse1("before", NULL, &q), -1);
}

static void test_bad_limits(void **state)
{
    history_query q;

    (void)state;
    assert_int_equal(parse1("limit", "0", &q), -1);
    assert_int_equal(parse1("limit", "201", &q), -1);
    assert_int_equal(parse1("limit", "4294967297", &q), -1); /* 2^32 + 1 */
    assert_int_equal(parse1("limit", "9223372036854775807", &q), -1);
}

static void test_combinations(void **state)
{
    history_query q;
    const char *why;
    query_param both[] = {{"before", "10"}, {"after", "5"}};
    query_param twice[] = {{"before", "10"}, {"before", "10"}};
    query_param limits[] = {{"limit", "5"}, {"limit", "6"}};
    query_param ok[] = {{"limit", "7"}, {"after", "99"}, {"other", "x"}};

    (void)state;
    assert_int_equal(history_query_parse(both, 2, &q, &why), -1);
    assert_int_equal(history_query_parse(twice, 2, &q, &why), -1);
    assert_int_equal(history_query_parse(limits, 2, &q, &why), -1);
    assert_int_equal(history_query_parse(ok, 3, &q, &why), 0);
    assert_int_equal(q.direction, HISTORY_AFTER);
    assert_int_equal(q.bound, 99);
    assert_int_equal(q.limit, 7);
}

static void test_reply_json_text_copies(void **state)
{
    char page[] = "{\"messages\":[],\"has_more\":false}";
    api_reply r = {0};

    (void)state;
    reply_json_text(&r, MHD_HTTP_OK, page, strlen(page));
    assert_int_equal(r.status, MHD_HTTP_OK);
    assert_null(r.body);
    assert_non_null(r.text);
    assert_int_equal(r.text_len, strlen(page));
    page[2] = 'X'; /* the reply holds its own copy */
    assert_memory_equal(r.text, "{\"messages\":[],\"has_more\":false}",
                        r.text_len);
    reply_clear(&r);
    assert_null(r.text);
    assert_int_equal(r.text_len, 0);
    assert_int_equal(r.status, 0);
}

static void test_reply_json_text_is_replaced(void **state)
{
    api_reply r = {0};

    (void)state;
    /* a later error replaces the page (and frees it: ASan checks) */
    reply_json_text(&r, MHD_HTTP_OK, "[1]", 3);
    reply_not_found(&r);
    assert_null(r.text);
    assert_int_equal(r.status, MHD_HTTP_NOT_FOUND);
    assert_non_null(r.body);
    /* and a page replaces a JSON body */
    reply_json_text(&r, MHD_HTTP_OK, "[]", 2);
    assert_null(r.body);
    assert_int_equal(r.text_len, 2);
    /* an empty text is still a (zero-length) body of its own */
    reply_json_text(&r, MHD_HTTP_OK, "", 0);
    assert_non_null(r.text);
    assert_int_equal(r.text_len, 0);
    reply_clear(&r);
    reply_clear(&r); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_bad_limits),
        cmocka_unit_test(test_combinations),
        cmocka_unit_test(test_reply_json_text_copies),
        cmocka_unit_test(test_reply_json_text_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
