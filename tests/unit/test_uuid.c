/*
 * test_uuid.c - unit tests for common/uuid.c: the canonical lower-case UUID
 * text form is the only one accepted (length, dash positions, hex digits,
 * case, embedded NUL), parse and format are inverses, and uuid_generate
 * yields distinct version 4 UUIDs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "uuid.h"

#define VALID "0f8fad5b-d9cb-469f-a165-70867728950e"

static void test_valid_accepts_canonical_lower_case(void **state)
{
    (void)state;
    assert_true(uuid_valid(VALID));
    assert_true(uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_true(uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
    assert_true(uuid_valid_n(VALID, strlen(VALID)));
}

static void test_valid_refuses_upper_case(void **state)
{
    (void)state;
    assert_false(uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    /* One upper-case digit is enough. */
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950E"));
    assert_false(uuid_valid("Af8fad5b-d9cb-469f-a165-70867728950e"));
}

static void test_valid_refuses_wrong_dash_positions(void **state)
{
    (void)state;
    /* Same length, dashes moved. */
    assert_false(uuid_valid("0f8fad5bd-9cb-469f-a165-70867728950e"));
    assert_false(uuid_valid("0f8fad5b-d9cb4-69f-a165-70867728950e"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469fa-165-70867728950e"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a1657-0867728950e"));
    /* No dashes at all (32 hex digits padded to 36). */
    assert_false(uuid_valid("0f8fad5bd9cb469fa16570867728950e0000"));
    /* A dash where a digit belongs. */
    assert_false(uuid_valid("-f8fad5b-d9cb-469f-a165-70867728950e"));
    /* Braces / URN forms are not canonical. */
    assert_false(uuid_valid("{0f8fad5b-d9cb-469f-a165-70867728950e}"));
}

static void test_valid_refuses_wrong_length(void **state)
{
    (void)state;
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));   /* 35 */
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0")); /* 37 */
    assert_false(uuid_valid(""));
    assert_false(uuid_valid(NULL));
    assert_false(uuid_valid_n(VALID, 35));
    assert_false(uuid_valid_n(VALID "0", 37));
    assert_false(uuid_valid_n(NULL, 36));
}

static void test_valid_refuses_non_hex(void **state)
{
    (void)state;
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-7086772895 e"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950+"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950/"));
    assert_false(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950#"));
    assert_false(uuid_valid("0x8fad5b-d9cb-469f-a165-70867728950e"));
}

static void test_valid_n_refuses_embedded_nul(void **state)
{
    char buf[UUID_STR_LEN + 1];

    (void)state;
    memcpy(buf, VALID, sizeof buf);
    buf[20] = '\0';
    assert_false(uuid_valid_n(buf, UUID_STR_LEN));
    memcpy(buf, VALID, sizeof buf);
    buf[UUID_STR_LEN - 1] = '\0';
    assert_false(uuid_valid_n(buf, UUID_STR_LEN));
    assert_false(uuid_valid(buf));
}

static void test_valid_n_reads_only_n_bytes(void **state)
{
    /* Not NUL-terminated: a UUID followed directly by more text. */
    const char topic_level[] = VALID "/m";

    (void)state;
    assert_true(uuid_valid_n(topic_level, UUID_STR_LEN));
    assert_false(uuid_valid(topic_level));
}

static void test_parse_format_round_trip(void **state)
{
    static const char *const inputs[] = {
        VALID,
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "01234567-89ab-cdef-0123-456789abcdef",
    };
    uuid_bin u;
    char out[UUID_STR_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        assert_int_equal(uuid_parse_n(inputs[i], strlen(inputs[i]), &u), 0);
        uuid_format(&u, out);
        assert_string_equal(out, inputs[i]);
    }
}

static void test_parse_gives_bytes_in_order(void **state)
{
    static const uint8_t want[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                                     0xcd, 0xef, 0x01, 0x23, 0x45, 0x67,
                                     0x89, 0xab, 0xcd, 0xef};
    uuid_bin u;
    char out[UUID_STR_LEN + 1];

    (void)state;
    assert_int_equal(
        uuid_parse_n("01234567-89ab-cdef-0123-456789abcdef", 36, &u), 0);
    assert_memory_equal(u.b, want, 16);
    memcpy(u.b, want, 16);
    uuid_format(&u, out);
    assert_string_equal(out, "01234567-89ab-cdef-0123-456789abcdef");
}

static void test_parse_refuses_invalid(void **state)
{
    uuid_bin u;

    (void)state;
    assert_int_equal(
        uuid_parse_n("0F8FAD5B-D9CB-469F-A165-70867728950E", 36, &u), -1);
    assert_int_equal(uuid_parse_n(VALID, 35, &u), -1);
    assert_int_equal(
        uuid_parse_n("0f8fad5b-d9cb-469f-a165-70867728950g", 36, &u), -1);
}

static void test_generate_gives_valid_v4(void **state)
{
    char out[UUID_STR_LEN + 1];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(uuid_generate(out), 0);
        assert_int_equal(strlen(out), UUID_STR_LEN);
        assert_true(uuid_valid(out));
        assert_int_equal(out[14], '4'); /* version */
        assert_non_null(strchr("89ab", out[19])); /* RFC 4122 variant */
    }
}

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, UUID_STR_LEN);
}

static void test_generate_distinct_over_10000(void **state)
{
    enum { N = 10000 };
    char(*all)[UUID_STR_LEN + 1] = calloc(N, sizeof *all);

    (void)state;
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        assert_int_equal(uuid_generate(all[i]), 0);
    qsort(all, N, sizeof *all, cmp_uuid);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(all[i - 1], all[i], UUID_STR_LEN), 0);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_accepts_canonical_lower_case),
        cmocka_unit_test(test_valid_refuses_upper_case),
        cmocka_unit_test(test_valid_refuses_wrong_dash_positions),
        cmocka_unit_test(test_valid_refuses_wrong_length),
        cmocka_unit_test(test_valid_refuses_non_hex),
        cmocka_unit_test(test_valid_n_refuses_embedded_nul),
        cmocka_unit_test(test_valid_n_reads_only_n_bytes),
        cmocka_unit_test(test_parse_format_round_trip),
        cmocka_unit_test(test_parse_gives_bytes_in_order),
        cmocka_unit_test(test_parse_refuses_invalid),
        cmocka_unit_test(test_generate_gives_valid_v4),
        cmocka_unit_test(test_generate_distinct_over_10000),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
