/*
 * test_api_sync.c - unit tests for sync_query_parse
 * (httpapi/handlers_sync.c): the cursor and limit of GET /v1/sync.
 * Defaults; the cursor's full int64 range; and every way a cursor or a
 * limit can be malformed (signs, spaces, leading zeros, hex, exponents,
 * overflow at and past INT64_MAX, look-alike digits, empty, repeated);
 * limits just outside 1..500.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "httpapi/handlers_sync.h"

static int parse1(const char *key, const char *value, sync_query *q)
{
    query_param p[1] = {{(char *)key, (char *)value}};
    const char *why = NULL;
    int rc = sync_query_parse(p, 1, q, &why);

    if (rc != 0)
        assert_non_null(why);
    return rc;
}

static void test_defaults(void **state)
{
    sync_query q;
    const char *why;
    query_param other[] = {{"after", "5"}, {"x", NULL}, {"cursor", "7"}};

    (void)state;
    assert_int_equal(sync_query_parse(NULL, 0, &q, &why), 0);
    assert_int_equal(q.since, 0);
    assert_int_equal(q.limit, SYNC_LIMIT_DEFAULT);
    assert_int_equal(q.limit, 100);
    /* other parameters (even ones that look like cursors) are ignored */
    assert_int_equal(sync_query_parse(other, 3, &q, &why), 0);
    assert_int_equal(q.since, 0);
    assert_int_equal(q.limit, 100);
}

static void test_cursors(void **state)
{
    sync_query q;

    (void)state;
    assert_int_equal(parse1("since", "0", &q), 0);
    assert_int_equal(q.since, 0);
    assert_int_equal(parse1("since", "1", &q), 0);
    assert_int_equal(q.since, 1);
    assert_int_equal(parse1("since", "123456789", &q), 0);
    assert_int_equal(q.since, 123456789);
    assert_int_equal(parse1("since", "9223372036854775807", &q), 0);
    assert_int_equal(q.since, INT64_MAX);
}

static const char *const malformed[] = {
    "",
    "-1",
    "+1",
    "-0",
    " 1",
    "1 ",
    "1\t",
    "01",
    "00",
    "0x10",
    "1e3",
    "1.0",
    "1,000",
    "abc",
    "12a",
    "NaN",
    "9223372036854775808",  /* INT64_MAX + 1: not a bigint seq */
    "18446744073709551615", /* UINT64_MAX */
    "18446744073709551616", /* wraps to 0 in 64 bits */
    "18446744073709551617", /* wraps to 1 */
    "99999999999999999999999999",
    "\xd9\xa1",     /* Arabic-Indic digit one */
    "\xef\xbc\x91", /* fullwidth digit one */
};

static void test_malformed_cursors(void **state)
{
    sync_query q;

    (void)state;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        if (parse1("since", malformed[i], &q) != -1)
            fail_msg("since=%s accepted", malformed[i]);
        if (parse1("limit", malformed[i], &q) != -1)
            fail_msg("limit=%s accepted", malformed[i]);
    }
    /* present without '=' is an empty value, not "absent" */
    assert_int_equal(parse1("since", NULL, &q), -1);
    assert_int_equal(parse1("limit", NULL, &q), -1);
}

static void test_limits(void **state)
{
    sync_query q;

    (void)state;
    assert_int_equal(parse1("limit", "1", &q), 0);
    assert_int_equal(q.limit, 1);
    assert_int_equal(parse1("limit", "500", &q), 0);
    assert_int_equal(q.limit, SYNC_LIMIT_MAX);
    assert_int_equal(parse1("limit", "0", &q), -1);
    assert_int_equal(parse1("limit", "501", &q), -1);
    assert_int_equal(parse1("limit", "4294967296", &q), -1); /* 2^32 */
    assert_int_equal(parse1("limit", "4294967297", &q), -1); /* 2^32 + 1 */
    assert_int_equal(parse1("limit", "9223372036854775807", &q), -1);
}

static void test_combinations(void **state)
{
    sync_query q;
    const char *why;
    query_param ok[] = {{"limit", "50"}, {"since", "42"}, {"x", "y"}};
    query_param two_since[] = {{"since", "1"}, {"since", "1"}};
    query_param two_limits[] = {{"limit", "5"}, {"limit", "6"}};
    query_param one_bad[] = {{"since", "42"}, {"limit", "0"}};

    (void)state;
    assert_int_equal(sync_query_parse(ok, 3, &q, &why), 0);
    assert_int_equal(q.since, 42);
    assert_int_equal(q.limit, 50);
    /* a repeated cursor is refused even when both copies agree */
    assert_int_equal(sync_query_parse(two_since, 2, &q, &why), -1);
    assert_int_equal(sync_query_parse(two_limits, 2, &q, &why), -1);
    assert_int_equal(sync_query_parse(one_bad, 2, &q, &why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_cursors),
        cmocka_unit_test(test_malformed_cursors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_combinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
