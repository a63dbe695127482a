/*
 * test_api_member_state.c - unit tests for mute_until_parse
 * (httpapi/handlers_member_state.c), the body of PUT
 * /v1/conversations/{c}/mute: absent or null "until" is for ever; unix
 * milliseconds from 0 to the end of year 9999; negative, fractional,
 * string, boolean and out-of-range values are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "httpapi/handlers_member_state.h"

static int parse_text(const char *text, bool *forever, int64_t *until)
{
    json_t *body = json_loads(text, 0, NULL);
    const char *why = NULL;
    int rc;

    assert_non_null(body);
    rc = mute_until_parse(body, forever, until, &why);
    if (rc != 0)
        assert_non_null(why);
    json_decref(body);
    return rc;
}

static void test_forever(void **state)
{
    bool forever = false;
    int64_t until = 7;

    (void)state;
    assert_int_equal(parse_text("{}", &forever, &until), 0);
    assert_true(forever);
    assert_int_equal(parse_text("{\"until\":null}", &forever, &until), 0);
    assert_true(forever);
    /* other fields are ignored, as everywhere but PATCH /v1/me */
    assert_int_equal(parse_text("{\"for\":5}", &forever, &until), 0);
    assert_true(forever);
}

static void test_times(void **state)
{
    bool forever = true;
    int64_t until = 0;

    (void)state;
    assert_int_equal(parse_text("{\"until\":1795645558881}", &forever, &until),
                     0);
    assert_false(forever);
    assert_int_equal(until, 1795645558881LL);
    /* the past is a time too (it simply mutes nothing) */
    assert_int_equal(parse_text("{\"until\":0}", &forever, &until), 0);
    assert_false(forever);
    assert_int_equal(until, 0);
    assert_int_equal(
        parse_text("{\"until\":253402300799999}", &forever, &until), 0);
    assert_int_equal(until, MUTE_UNTIL_MAX_MS);
}

static void test_refused(void **state)
{
    static const char *const bodies[] = {
        "{\"until\":-1}",
        "{\"until\":253402300800000}", /* year 10000 */
        "{\"until\":9223372036854775807}",
        "{\"until\":-9223372036854775808}",
        "{\"until\":1.5}",
        "{\"until\":1e12}", /* a real in JSON, even if whole */
        "{\"until\":\"1795645558881\"}",
        "{\"until\":\"forever\"}",
        "{\"until\":true}",
        "{\"until\":false}",
        "{\"until\":[]}",
        "{\"until\":{}}",
    };
    bool forever;
    int64_t until;

    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        if (parse_text(bodies[i], &forever, &until) != -1)
            fail_msg("accepted %s", bodies[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forever),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
