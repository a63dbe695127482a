/*
 * test_identity.c - unit tests for plugin/identity.c, the CONNECT identity
 * rules of DESIGN.md ("Identity and tokens"): a device id is 1 to 64 of
 * [A-Za-z0-9_-], and a client id is exactly "<sub>:<device>" for the
 * token's sub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plugin/identity.h"

#define SUB "0f8fad5b-d9cb-469f-a165-70867728950e"
#define OTHER_SUB "7c9e6679-7425-40de-944b-e07fc1f90ae7"

/* Fills buf with n copies of c and a NUL. */
static const char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_device_accepts_allowed_characters(void **state)
{
    (void)state;
    assert_true(device_id_valid("phone"));
    assert_true(device_id_valid("a"));
    assert_true(device_id_valid("ABCXYZabcxyz0189_-"));
    assert_true(device_id_valid("-"));
    assert_true(device_id_valid("_"));
}

static void test_device_accepts_64_chars(void **state)
{
    char buf[DEVICE_ID_MAX + 2];

    (void)state;
    assert_true(device_id_valid(repeat(buf, 'd', 64)));
}

static void test_device_refuses_empty(void **state)
{
    (void)state;
    assert_false(device_id_valid(""));
    assert_false(device_id_valid(NULL));
}

static void test_device_refuses_65_chars(void **state)
{
    char buf[DEVICE_ID_MAX + 2];

    (void)state;
    assert_false(device_id_valid(repeat(buf, 'd', 65)));
}

static void test_device_refuses_topic_and_separator_characters(void **state)
{
    (void)state;
    assert_false(device_id_valid("a/b"));
    assert_false(device_id_valid("a+b"));
    assert_false(device_id_valid("a#b"));
    assert_false(device_id_valid("a:b"));
    assert_false(device_id_valid("a b"));
    assert_false(device_id_valid("a.b"));
    assert_false(device_id_valid("/"));
    assert_false(device_id_valid("+"));
    assert_false(device_id_valid("#"));
    assert_false(device_id_valid(":"));
    assert_false(device_id_valid(" "));
    assert_false(device_id_valid("phone\n"));
}

static void test_device_refuses_unicode(void **state)
{
    (void)state;
    assert_false(device_id_valid("t\xc3\xa9l\xc3\xa9phone")); /* téléphone */
    assert_false(device_id_valid("\xf0\x9f\x93\xb1"));        /* 📱 */
}

static void test_client_id_accepts_sub_colon_device(void **state)
{
    char id[128];

    (void)state;
    assert_true(client_id_matches(SUB ":phone", SUB));
    assert_true(client_id_matches(SUB ":a", SUB));
    snprintf(
        id, sizeof id, SUB ":%s",
        "0123456789012345678901234567890123456789012345678901234567890123");
    assert_true(client_id_matches(id, SUB));
}

static void test_client_id_refuses_other_users_sub(void **state)
{
    (void)state;
    assert_false(client_id_matches(OTHER_SUB ":phone", SUB));
    /* Every character of the sub counts, the last as much as the first. */
    assert_false(
        client_id_matches("0f8fad5b-d9cb-469f-a165-70867728950f:phone", SUB));
    assert_false(
        client_id_matches("1f8fad5b-d9cb-469f-a165-70867728950e:phone", SUB));
}

static void test_client_id_refuses_missing_colon(void **state)
{
    (void)state;
    assert_false(client_id_matches(SUB "phone", SUB));
    assert_false(client_id_matches(SUB "-phone", SUB));
}

static void test_client_id_refuses_empty_device(void **state)
{
    (void)state;
    assert_false(client_id_matches(SUB ":", SUB));
}

static void test_client_id_refuses_sub_alone(void **state)
{
    (void)state;
    assert_false(client_id_matches(SUB, SUB));
}

static void test_client_id_refuses_sub_prefix_of_longer_id(void **state)
{
    (void)state;
    /* The sub followed by more characters before the colon is another id. */
    assert_false(client_id_matches(SUB "x:phone", SUB));
    /* A client id holding only the start of the sub. */
    assert_false(client_id_matches("0f8fad5b:phone", SUB));
}

static void test_client_id_refuses_extra_colon(void **state)
{
    (void)state;
    assert_false(client_id_matches(SUB ":phone:2", SUB));
    assert_false(client_id_matches(SUB "::phone", SUB));
}

static void test_client_id_refuses_invalid_device(void **state)
{
    (void)state;
    assert_false(client_id_matches(SUB ":a/b", SUB));
    assert_false(client_id_matches(
        SUB
        ":01234567890123456789012345678901234567890123456789012345678901234",
        SUB));
}

static void test_client_id_refuses_empty_or_null(void **state)
{
    (void)state;
    assert_false(client_id_matches(":phone", ""));
    assert_false(client_id_matches(NULL, SUB));
    assert_false(client_id_matches(SUB ":phone", NULL));
    assert_false(client_id_matches("", SUB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_accepts_allowed_characters),
        cmocka_unit_test(test_device_accepts_64_chars),
        cmocka_unit_test(test_device_refuses_empty),
        cmocka_unit_test(test_device_refuses_65_chars),
        cmocka_unit_test(test_device_refuses_topic_and_separator_characters),
        cmocka_unit_test(test_device_refuses_unicode),
        cmocka_unit_test(test_client_id_accepts_sub_colon_device),
        cmocka_unit_test(test_client_id_refuses_other_users_sub),
        cmocka_unit_test(test_client_id_refuses_missing_colon),
        cmocka_unit_test(test_client_id_refuses_empty_device),
        cmocka_unit_test(test_client_id_refuses_sub_alone),
        cmocka_unit_test(test_client_id_refuses_sub_prefix_of_longer_id),
        cmocka_unit_test(test_client_id_refuses_extra_colon),
        cmocka_unit_test(test_client_id_refuses_invalid_device),
        cmocka_unit_test(test_client_id_refuses_empty_or_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
