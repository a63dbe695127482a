/*
 * test_utf8.c - unit tests for common/utf8.c: utf8_valid accepts ASCII and
 * well-formed 2-, 3- and 4-byte sequences and refuses each class of
 * ill-formed input (overlong forms, surrogates, code points above U+10FFFF,
 * truncated sequences, stray continuation bytes, impossible lead bytes and
 * NUL); utf8_length counts code points, not bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "utf8.h"

/* utf8_valid over a string literal, counting every byte but the final NUL
 * (so literals with embedded NULs are checked whole). */
#define VALID(lit) utf8_valid((lit), sizeof(lit) - 1)
#define LENGTH(lit) utf8_length((lit), sizeof(lit) - 1)

static void test_valid_accepts_ascii(void **state)
{
    (void)state;
    assert_true(VALID("hello, world"));
    assert_true(VALID("\x01\x7f"));
    /* Every byte 0x01..0x7f on its own. */
    for (int c = 1; c < 0x80; c++) {
        char b = (char)c;
        assert_true(utf8_valid(&b, 1));
    }
}

static void test_valid_accepts_empty(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
}

static void test_valid_accepts_two_byte(void **state)
{
    (void)state;
    assert_true(VALID("\xc2\x80"));          /* U+0080, the smallest */
    assert_true(VALID("\xc3\xa9t\xc3\xa9")); /* "été" */
    assert_true(VALID("\xdf\xbf"));          /* U+07FF, the largest */
}

static void test_valid_accepts_three_byte(void **state)
{
    (void)state;
    assert_true(VALID("\xe0\xa0\x80")); /* U+0800, the smallest */
    assert_true(VALID("\xe2\x82\xac")); /* U+20AC euro sign */
    assert_true(VALID("\xed\x9f\xbf")); /* U+D7FF, just below surrogates */
    assert_true(VALID("\xee\x80\x80")); /* U+E000, just above surrogates */
    assert_true(VALID("\xef\xbf\xbf")); /* U+FFFF */
}

static void test_valid_accepts_four_byte(void **state)
{
    (void)state;
    assert_true(VALID("\xf0\x90\x80\x80")); /* U+10000, the smallest */
    assert_true(VALID("\xf0\x9f\x98\x80")); /* U+1F600 grinning face */
    assert_true(VALID("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the largest */
}

static void test_valid_refuses_overlong(void **state)
{
    (void)state;
    assert_false(VALID("\xc0\xaf"));         /* '/' in two bytes */
    assert_false(VALID("\xc1\xbf"));         /* U+007F in two bytes */
    assert_false(VALID("\xc0\x80"));         /* "modified UTF-8" NUL */
    assert_false(VALID("\xe0\x80\xaf"));     /* '/' in three bytes */
    assert_false(VALID("\xe0\x9f\xbf"));     /* U+07FF in three bytes */
    assert_false(VALID("\xf0\x80\x80\xaf")); /* '/' in four bytes */
    assert_false(VALID("\xf0\x8f\xbf\xbf")); /* U+FFFF in four bytes */
}

static void test_valid_refuses_surrogates(void **state)
{
    (void)state;
    assert_false(VALID("\xed\xa0\x80")); /* U+D800 */
    assert_false(VALID("\xed\xaf\xbf")); /* U+DBFF */
    assert_false(VALID("\xed\xb0\x80")); /* U+DC00 */
    assert_false(VALID("\xed\xbf\xbf")); /* U+DFFF */
    /* A CESU-8 style surrogate pair is still two surrogates. */
    assert_false(VALID("\xed\xa0\xbd\xed\xb8\x80"));
}

static void test_valid_refuses_above_max_code_point(void **state)
{
    (void)state;
    assert_false(VALID("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(VALID("\xf5\x80\x80\x80"));
    assert_false(VALID("\xf7\xbf\xbf\xbf")); /* U+1FFFFF */
}

static void test_valid_refuses_truncated(void **state)
{
    (void)state;
    assert_false(VALID("\xc3"));         /* 2-byte lead at the end */
    assert_false(VALID("\xe2\x82"));     /* 3-byte, one short */
    assert_false(VALID("\xf0\x9f\x98")); /* 4-byte, one short */
    assert_false(VALID("\xe2\x82x"));    /* cut short by ASCII */
    assert_false(VALID("\xf0\x9f\x98\x80\xf0\x9f"));
    /* The length given, not the NUL, ends the input. */
    assert_false(utf8_valid("\xe2\x82\xac", 2));
}

static void test_valid_refuses_stray_continuation(void **state)
{
    (void)state;
    assert_false(VALID("\x80"));
    assert_false(VALID("a\xbf"));
    assert_false(VALID("\xe2\x82\xac\x80")); /* one continuation too many */
}

static void test_valid_refuses_impossible_lead_bytes(void **state)
{
    (void)state;
    assert_false(VALID("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
    assert_false(VALID("\xfc\x84\x80\x80\x80\x80"));
    assert_false(VALID("\xfe"));
    assert_false(VALID("\xff"));
}

static void test_valid_refuses_nul(void **state)
{
    (void)state;
    assert_false(VALID("\0"));
    assert_false(VALID("ab\0cd"));
    assert_false(VALID("\xc3\xa9\0"));
}

static void test_length_counts_ascii_bytes(void **state)
{
    (void)state;
    assert_int_equal(LENGTH(""), 0);
    assert_int_equal(LENGTH("a"), 1);
    assert_int_equal(LENGTH("hello"), 5);
}

static void test_length_counts_code_points(void **state)
{
    (void)state;
    assert_int_equal(LENGTH("\xc3\xa9"), 1);         /* é */
    assert_int_equal(LENGTH("\xe2\x82\xac"), 1);     /* € */
    assert_int_equal(LENGTH("\xf0\x9f\x98\x80"), 1); /* 😀 */
    assert_int_equal(LENGTH("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5);
    /* 1000 emoji: 4000 bytes, 1000 code points. */
    {
        char buf[4000];
        for (size_t i = 0; i < sizeof buf; i += 4)
            memcpy(buf + i, "\xf0\x9f\x98\x80", 4);
        assert_true(utf8_valid(buf, sizeof buf));
        assert_int_equal(utf8_length(buf, sizeof buf), 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_accepts_ascii),
        cmocka_unit_test(test_valid_accepts_empty),
        cmocka_unit_test(test_valid_accepts_two_byte),
        cmocka_unit_test(test_valid_accepts_three_byte),
        cmocka_unit_test(test_valid_accepts_four_byte),
        cmocka_unit_test(test_valid_refuses_overlong),
        cmocka_unit_test(test_valid_refuses_surrogates),
        cmocka_unit_test(test_valid_refuses_above_max_code_point),
        cmocka_unit_test(test_valid_refuses_truncated),
        cmocka_unit_test(test_valid_refuses_stray_continuation),
        cmocka_unit_test(test_valid_refuses_impossible_lead_bytes),
        cmocka_unit_test(test_valid_refuses_nul),
        cmocka_unit_test(test_length_counts_ascii_bytes),
        cmocka_unit_test(test_length_counts_code_points),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
