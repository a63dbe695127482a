/*
 * test_api_password.c - unit tests for httpapi/password.c: the stored-hash
 * format round-trips; hash and verify agree (with cheap parameters, and
 * once with the real ones); a wrong password, a changed salt or key, and
 * every malformed or out-of-range string are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "httpapi/password.h"

static const unsigned char salt[PASSWORD_SALT_BYTES] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

#define S(lit) lit, sizeof(lit) - 1

/* A cheap hash (N = 16) of pw with the fixed salt. */
static void cheap_hash(const char *pw, size_t len, char *out)
{
    assert_int_equal(password_hash_params(pw, len, 4, 8, 1, salt, sizeof salt,
                                          out, PASSWORD_HASH_STR_MAX),
                     0);
}

static void test_format_shape(void **state)
{
    char h[PASSWORD_HASH_STR_MAX];
    password_params p;

    (void)state;
    cheap_hash(S("correct horse"), h);
    assert_true(strncmp(h, "$scrypt$ln=4,r=8,p=1$", 21) == 0);
    /* 16-byte salt and 32-byte key: 22 and 43 base64url characters */
    assert_int_equal(strlen(h), 21 + 22 + 1 + 43);
    assert_int_equal(password_parse(h, &p), 0);
    assert_int_equal(p.ln, 4);
    assert_int_equal(p.r, 8);
    assert_int_equal(p.p, 1);
    assert_int_equal(p.salt_len, 16);
    assert_memory_equal(p.salt, salt, 16);
    assert_int_equal(p.key_len, 32);
}

static void test_format_round_trip(void **state)
{
    char h[PASSWORD_HASH_STR_MAX], again[PASSWORD_HASH_STR_MAX];
    password_params p;

    (void)state;
    cheap_hash(S("pw"), h);
    assert_int_equal(password_parse(h, &p), 0);
    assert_int_equal(password_format(&p, again, sizeof again), 0);
    assert_string_equal(h, again);
    /* too small an output buffer */
    assert_int_equal(password_format(&p, again, 20), -1);
}

static void test_verify(void **state)
{
    char h[PASSWORD_HASH_STR_MAX];

    (void)state;
    cheap_hash(S("correct horse"), h);
    assert_int_equal(password_verify(S("correct horse"), h), 1);
    assert_int_equal(password_verify(S("correct hors"), h), 0);
    assert_int_equal(password_verify(S("correct horse "), h), 0);
    assert_int_equal(password_verify(S("Correct horse"), h), 0);
    assert_int_equal(password_verify("", 0, h), 0);
    /* the length counts: a NUL and what follows are part of it */
    assert_int_equal(password_verify("correct horse\0x", 15, h), 0);
}

static void test_verify_with_embedded_nul(void **state)
{
    char h[PASSWORD_HASH_STR_MAX];

    (void)state;
    cheap_hash("ab\0cd", 5, h);
    assert_int_equal(password_verify("ab\0cd", 5, h), 1);
    assert_int_equal(password_verify("ab", 2, h), 0);
}

static void test_salt_and_key_matter(void **state)
{
    char h[PASSWORD_HASH_STR_MAX], other[PASSWORD_HASH_STR_MAX];
    size_t n;

    (void)state;
    cheap_hash(S("secret"), h);
    /* flip one character of the key (last one, keeping it canonical) */
    strcpy(other, h);
    n = strlen(other);
    other[n - 2] = other[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(password_verify(S("secret"), other), 0);
    /* flip one character of the salt */
    strcpy(other, h);
    other[21] = other[21] == 'A' ? 'B' : 'A';
    assert_int_equal(password_verify(S("secret"), other), 0);
    /* cost is part of the hash: same salt, other ln */
    strcpy(other, h);
    other[11] = '5';
    assert_int_equal(password_verify(S("secret"), other), 0);
}

static void test_default_hash_is_salted_and_verifies(void **state)
{
    char a[PASSWORD_HASH_STR_MAX], b[PASSWORD_HASH_STR_MAX];

    (void)state;
    assert_int_equal(password_hash(S("same password"), a), 0);
    assert_int_equal(password_hash(S("same password"), b), 0);
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
    assert_int_equal(password_verify(S("same password"), a), 1);
    assert_int_equal(password_verify(S("same passwore"), b), 0);
}

static void test_malformed_hashes(void **state)
{
    static const char *const bad[] = {
        NULL,
        "",
        "$scrypt$",
        "$2b$12$abcdefghijklmnopqrstuv",
        "$scrypt$ln=4,r=8,p=1$",
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$",
        "$scrypt$ln=4,r=8,p=1$$AQIDBAUGBwgJCgsMDQ4PEAECAwQFBgcICQoLDA0ODxA",
        /* leading zeros, signs, spaces, missing numbers */
        "$scrypt$ln=04,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=+4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln= 4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,p=1,r=8$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        /* out of range: ln 0 and 21, r 33, p 17, a huge number */
        "$scrypt$ln=0,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=21,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=33,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=8,p=17$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4294967311,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$"
        "AQIDBAUGBwgJCgsMDQ4PEA",
        /* salt under 8 bytes, key under 16 bytes */
        "$scrypt$ln=4,r=8,p=1$AQID$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwg",
        /* not base64url: padding, standard alphabet, non-canonical tail */
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA==$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4P+A$AQIDBAUGBwgJCgsMDQ4PEA",
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEB$AQIDBAUGBwgJCgsMDQ4PEA",
        /* extra field */
        "$scrypt$ln=4,r=8,p=1$AQIDBAUGBwgJCgsMDQ4PEA$AQIDBAUGBwgJCgsMDQ4PEA$x",
    };
    password_params p;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (password_parse(bad[i], &p) != -1)
            fail_msg("accepted: %s", bad[i] ? bad[i] : "(null)");
        assert_int_equal(password_verify(S("whatever"), bad[i]), -1);
    }
}

static void test_oversize_fields(void **state)
{
    char h[512];
    password_params p;

    (void)state;
    /* a 65-byte salt (87 characters) is over the limit */
    snprintf(h, sizeof h, "$scrypt$ln=4,r=8,p=1$%0*d$AQIDBAUGBwgJCgsMDQ4PEA",
             87, 0);
    for (char *c = h + 21; *c == '0'; c++)
        *c = 'A';
    assert_int_equal(password_parse(h, &p), -1);
}

static void test_hash_params_refuses_bad_cost(void **state)
{
    char h[PASSWORD_HASH_STR_MAX];

    (void)state;
    assert_int_equal(
        password_hash_params(S("x"), 0, 8, 1, salt, sizeof salt, h, sizeof h),
        -1);
    assert_int_equal(
        password_hash_params(S("x"), 4, 0, 1, salt, sizeof salt, h, sizeof h),
        -1);
    assert_int_equal(
        password_hash_params(S("x"), 4, 8, 1, salt, 0, h, sizeof h), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_shape),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_verify_with_embedded_nul),
        cmocka_unit_test(test_salt_and_key_matter),
        cmocka_unit_test(test_default_hash_is_salted_and_verifies),
        cmocka_unit_test(test_malformed_hashes),
        cmocka_unit_test(test_oversize_fields),
        cmocka_unit_test(test_hash_params_refuses_bad_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
