/*
 * test_api_tokens.c - unit tests for httpapi/auth_tokens.c, encoding.c,
 * secret.c and events.c: issued access tokens pass common/token.c's
 * verifier with the right claims and header, and fail it with another
 * secret, issuer, audience or clock; the revocation rule of a logout
 * everywhere and the iat of tokens issued in the same second; refresh tokens
 * have their shape and a stable hash; base64url round-trips through common's
 * decoder; the secret file is created once with mode 0600 and refused when
 * short; event payloads are exactly the documented JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpapi/auth_tokens.h"
#include "httpapi/encoding.h"
#include "httpapi/events.h"
#include "httpapi/secret.h"
#include "token.h"
#include "uuid.h"

#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef"
#define SUB "0f8fad5b-d9cb-469f-a165-70867728950e"

static char *issue(const char *secret, long ttl, time_t now)
{
    access_token_claims c = {
        .issuer = "parley",
        .audience = "parley",
        .sub = SUB,
        .role = "admin",
        .now = now,
        .ttl = ttl,
        .iat = now,
    };
    return access_token_issue(&c, (const unsigned char *)secret,
                              strlen(secret));
}

static token_status verify(const char *tok, const char *secret, const char *iss,
                           const char *aud, time_t now, token_claims *out)
{
    token_verifier v;
    const char *why;
    token_status st;

    assert_int_equal(token_verifier_init(&v, iss, aud, 0), 0);
    assert_int_equal(token_verifier_add_key(&v, "", TOKEN_ALG_HS256,
                                            (const unsigned char *)secret,
                                            strlen(secret), &why),
                     0);
    st = token_verify(&v, tok, strlen(tok), now, out);
    token_verifier_clear(&v);
    return st;
}

static void test_access_token_verifies(void **state)
{
    time_t now = 1800000000;
    char *tok = issue(SECRET, 900, now);
    token_claims c;

    (void)state;
    assert_non_null(tok);
    assert_int_equal(verify(tok, SECRET, "parley", "parley", now, &c),
                     TOKEN_OK);
    assert_string_equal(c.sub, SUB);
    assert_int_equal(c.role, TOKEN_ROLE_ADMIN);
    assert_int_equal(c.iat, now);
    assert_int_equal(c.exp, now + 900);
    assert_true(uuid_valid(c.jti));
    /* still valid at exp, expired after it */
    assert_int_equal(verify(tok, SECRET, "parley", "parley", now + 900, &c),
                     TOKEN_OK);
    assert_int_equal(verify(tok, SECRET, "parley", "parley", now + 901, &c),
                     TOKEN_ERR_EXPIRED);
    free(tok);
}

static void test_access_token_refused_elsewhere(void **state)
{
    time_t now = 1800000000;
    char *tok = issue(SECRET, 900, now);
    token_claims c;

    (void)state;
    assert_int_equal(verify(tok, SECRET "x", "parley", "parley", now, &c),
                     TOKEN_ERR_SIGNATURE);
    assert_int_equal(verify(tok, SECRET, "other", "parley", now, &c),
                     TOKEN_ERR_ISSUER);
    assert_int_equal(verify(tok, SECRET, "parley", "other", now, &c),
                     TOKEN_ERR_AUDIENCE);
    assert_int_equal(verify(tok, SECRET, "parley", "parley", now - 60, &c),
                     TOKEN_ERR_NOT_YET);
    free(tok);
}

static void test_access_token_header_and_claims(void **state)
{
    char *tok = issue(SECRET, 60, 1800000000);
    const char *dot1 = strchr(tok, '.'), *dot2;
    unsigned char *raw;
    size_t n;
    json_t *j;

    (void)state;
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    raw = base64url_decode(tok, (size_t)(dot1 - tok), &n);
    assert_non_null(raw);
    j = json_loadb((const char *)raw, n, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "alg")), "HS256");
    assert_string_equal(json_string_value(json_object_get(j, "typ")), "JWT");
    json_decref(j);
    free(raw);
    raw = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
    assert_non_null(raw);
    j = json_loadb((const char *)raw, n, 0, NULL);
    assert_int_equal(json_object_size(j), 7); /* iss aud sub role iat exp jti */
    assert_true(json_is_integer(json_object_get(j, "exp")));
    assert_true(json_is_integer(json_object_get(j, "iat")));
    assert_string_equal(json_string_value(json_object_get(j, "role")), "admin");
    json_decref(j);
    free(raw);
    free(tok);
}

static void test_jti_differs(void **state)
{
    char *a = issue(SECRET, 60, 1800000000), *b = issue(SECRET, 60, 1800000000);

    (void)state;
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_revocation_rule(void **state)
{
    (void)state;
    /* never revoked */
    assert_false(access_token_revoked(1800000000, 0));
    assert_false(access_token_revoked(0, 0));
    /* issued at or before the logout second: revoked */
    assert_true(access_token_revoked(1800000000, 1800000000));
    assert_true(access_token_revoked(1799999999, 1800000000));
    assert_true(access_token_revoked(0, 1800000000)); /* no iat */
    assert_false(access_token_revoked(1800000001, 1800000000));
    /* a token issued in the logout's own second moves to the next one,
     * and so is not revoked by it */
    assert_int_equal(access_token_iat(1800000000, 0), 1800000000);
    assert_int_equal(access_token_iat(1800000000, 1799999999), 1800000000);
    assert_int_equal(access_token_iat(1800000000, 1800000000), 1800000001);
    assert_false(access_token_revoked(access_token_iat(1800000000, 1800000000),
                                      1800000000));
    /* a clock that went backwards still yields a standing token */
    assert_int_equal(access_token_iat(1800000000, 1800000005), 1800000006);
}

static void test_issued_with_later_iat_verifies(void **state)
{
    access_token_claims c = {
        .issuer = "parley",
        .audience = "parley",
        .sub = SUB,
        .role = "user",
        .now = 1800000000,
        .ttl = 900,
        .iat = 1800000001,
    };
    char *tok =
        access_token_issue(&c, (const unsigned char *)SECRET, strlen(SECRET));
    token_verifier v;
    token_claims out;
    const char *why;

    (void)state;
    /* the verifiers' default leeway (30 s) covers the one-second step */
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(token_verifier_add_key(&v, "", TOKEN_ALG_HS256,
                                            (const unsigned char *)SECRET,
                                            strlen(SECRET), &why),
                     0);
    assert_int_equal(token_verify(&v, tok, strlen(tok), 1800000000, &out),
                     TOKEN_OK);
    assert_int_equal(out.iat, 1800000001);
    assert_int_equal(out.exp, 1800000900);
    token_verifier_clear(&v);
    free(tok);
}

static void test_refresh_token_shape(void **state)
{
    char a[REFRESH_TOKEN_LEN + 1], b[REFRESH_TOKEN_LEN + 1];
    size_t n;
    unsigned char *raw;

    (void)state;
    assert_int_equal(REFRESH_TOKEN_LEN, 43);
    assert_int_equal(refresh_token_new(a), 0);
    assert_int_equal(refresh_token_new(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_true(refresh_token_well_formed(a, strlen(a)));
    raw = base64url_decode(a, strlen(a), &n);
    assert_non_null(raw);
    assert_int_equal(n, 32);
    free(raw);

    assert_false(refresh_token_well_formed(a, 42));
    assert_false(refresh_token_well_formed(NULL, 43));
    assert_false(refresh_token_well_formed(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 43));
    assert_false(refresh_token_well_formed(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 43));
    assert_false(refresh_token_well_formed(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\0A", 43));
    assert_true(refresh_token_well_formed(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 43));
}

static void test_refresh_token_hash(void **state)
{
    char h[REFRESH_HASH_TEXT_LEN + 1];

    (void)state;
    /* SHA-256("abc") */
    refresh_token_hash_text("abc", 3, h);
    assert_string_equal(h, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177"
                           "a9cb410ff61f20015ad");
    assert_int_equal(strlen(h), REFRESH_HASH_TEXT_LEN);
}

static void test_base64url_round_trip(void **state)
{
    unsigned char in[40], *back;
    char out[BASE64URL_LEN(sizeof in) + 1];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 37 + 250);
    for (size_t len = 0; len <= sizeof in; len++) {
        assert_int_equal(base64url_encode(in, len, out), BASE64URL_LEN(len));
        assert_null(strchr(out, '='));
        assert_null(strchr(out, '+'));
        assert_null(strchr(out, '/'));
        back = base64url_decode(out, strlen(out), &n);
        assert_non_null(back);
        assert_int_equal(n, len);
        assert_memory_equal(back, in, len);
        free(back);
    }
    base64url_encode((const unsigned char *)"\xfb\xff", 2, out);
    assert_string_equal(out, "-_8");
}

static void test_hex(void **state)
{
    char out[9];

    (void)state;
    hex_encode((const unsigned char *)"\x00\x0f\xa0\xff", 4, out);
    assert_string_equal(out, "000fa0ff");
    hex_encode(NULL, 0, out);
    assert_string_equal(out, "");
}

static void test_secret_file(void **state)
{
    char dir[] = "/tmp/parley-secret-XXXXXX", path[128], err[256];
    unsigned char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    struct stat st;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jwt.secret", dir);

    assert_int_equal(secret_load_or_create(path, &s1, &n1, err, sizeof err), 0);
    assert_int_equal(n1, 64);
    for (size_t i = 0; i < n1; i++)
        assert_non_null(strchr("0123456789abcdef", s1[i]));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the second start reads the same secret */
    assert_int_equal(secret_load_or_create(path, &s2, &n2, err, sizeof err), 0);
    assert_int_equal(n2, n1);
    assert_memory_equal(s1, s2, n1);
    secret_free(s1, n1);
    secret_free(s2, n2);
    unlink(path);

    /* trailing whitespace is not part of the secret */
    f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef \r\n\t\n", f);
    fclose(f);
    assert_int_equal(secret_load_or_create(path, &s1, &n1, err, sizeof err), 0);
    assert_int_equal(n1, 32);
    secret_free(s1, n1);
    unlink(path);

    /* 31 bytes are too few */
    f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcde\n", f);
    fclose(f);
    assert_int_equal(secret_load_or_create(path, &s1, &n1, err, sizeof err),
                     -1);
    assert_null(s1);
    assert_true(strlen(err) > 0);
    unlink(path);

    /* an empty file too */
    f = fopen(path, "w");
    fclose(f);
    assert_int_equal(secret_load_or_create(path, &s1, &n1, err, sizeof err),
                     -1);
    unlink(path);

    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/missing/jwt.secret", dir);
    assert_int_equal(secret_load_or_create(path, &s1, &n1, err, sizeof err),
                     -1);
    secret_free(NULL, 0);
    rmdir(dir);
}

static void test_event_payloads(void **state)
{
    char *s;

    (void)state;
    s = event_member_added(SUB, "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                           "member");
    assert_string_equal(s, "{\"type\":\"member_added\",\"conv\":\"" SUB
                           "\",\"user\":\"7c9e6679-7425-40de-944b-"
                           "e07fc1f90ae7\",\"role\":\"member\"}");
    free(s);
    s = event_member_removed(SUB, SUB);
    assert_string_equal(s, "{\"type\":\"member_removed\",\"conv\":\"" SUB
                           "\",\"user\":\"" SUB "\"}");
    free(s);
    s = event_role_changed(SUB, SUB, "admin");
    assert_string_equal(s, "{\"type\":\"role_changed\",\"conv\":\"" SUB
                           "\",\"user\":\"" SUB "\",\"role\":\"admin\"}");
    free(s);
    s = event_sessions_revoked(SUB);
    assert_string_equal(s,
                        "{\"type\":\"sessions_revoked\",\"user\":\"" SUB "\"}");
    free(s);
    /* NOTIFY's payload limit is 8000 bytes; ours are far below */
    assert_null(event_member_added(NULL, SUB, "member"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_token_verifies),
        cmocka_unit_test(test_access_token_refused_elsewhere),
        cmocka_unit_test(test_access_token_header_and_claims),
        cmocka_unit_test(test_jti_differs),
        cmocka_unit_test(test_revocation_rule),
        cmocka_unit_test(test_issued_with_later_iat_verifies),
        cmocka_unit_test(test_refresh_token_shape),
        cmocka_unit_test(test_refresh_token_hash),
        cmocka_unit_test(test_base64url_round_trip),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_event_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
