/*
 * test_payload.c - unit tests for plugin/payload.c, the validation and
 * server rewrite of chat messages (DESIGN.md, "Payloads"): each message
 * type's happy path; the rewrite's shape (the server's id, conv, from and
 * ts first, then only the known client fields); every refusal with its
 * error code (UTF-8, size, body length in code points, txn, type, JSON
 * shape, per-type fields, reply_to); err->txn; typing notices; and
 * payload_parse + payload_render agreeing with payload_rewrite.
 *
 * Outputs are read back with jansson rather than compared as text, except
 * where the exact text is the point.
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

#include "plugin/payload.h"

#define CONV "11111111-1111-4111-8111-111111111111"
#define ALICE "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define STAMP_ID 123456789012345678ULL
#define STAMP_ID_STR "123456789012345678"
#define STAMP_TS 1700000000123LL

#define TXN64 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"
#define TXN65 TXN64 "x"

static const payload_limits default_limits = {
    .max_payload_bytes = 16 * 1024,
    .max_body_chars = 4000,
};

static const payload_stamp stamp = {
    .id = STAMP_ID,
    .conv = CONV,
    .from = ALICE,
    .ts_ms = STAMP_TS,
};

/* ---- helpers ---------------------------------------------------------- */

/* Rewrites len bytes with limits; asserts success and returns the output
 * parsed as a JSON object (the caller decrefs it). */
static json_t *rewrite_ok_n(const void *payload, size_t len,
                            const payload_limits *limits)
{
    payload_rewrite_result out;
    payload_error err;
    json_error_t jerr;
    json_t *obj;

    if (payload_rewrite(payload, len, limits, &stamp, &out, &err) != 0)
        fail_msg("refused with %s: %s", err.code, err.detail);
    assert_non_null(out.json);
    assert_int_equal(out.len, strlen(out.json));
    obj = json_loadb(out.json, out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL)
        fail_msg("output is not JSON: %s", jerr.text);
    assert_true(json_is_object(obj));
    /* The result carries the txn of the output. */
    assert_string_equal(out.txn,
                        json_string_value(json_object_get(obj, "txn")));
    free(out.json);
    return obj;
}

static json_t *rewrite_ok(const char *payload)
{
    return rewrite_ok_n(payload, strlen(payload), &default_limits);
}

/* Rewrites len bytes with limits; asserts refusal with nothing allocated
 * and returns err (its code is a static string). */
static payload_error rewrite_err_n(const void *payload, size_t len,
                                   const payload_limits *limits)
{
    payload_rewrite_result out;
    payload_error err;

    memset(&err, 0, sizeof err);
    if (payload_rewrite(payload, len, limits, &stamp, &out, &err) == 0) {
        char shown[201];

        snprintf(shown, sizeof shown, "%s", out.json);
        free(out.json);
        fail_msg("accepted: %s", shown);
    }
    assert_null(out.json);
    assert_non_null(err.code);
    assert_true(err.detail[0] != '\0');
    return err;
}

static const char *rewrite_code(const char *payload)
{
    return rewrite_err_n(payload, strlen(payload), &default_limits).code;
}

/* The code for a literal that may hold NUL bytes (all its bytes but the
 * terminating one). */
#define REWRITE_CODE_LIT(lit)                                                  \
    rewrite_err_n((lit), sizeof(lit) - 1, &default_limits).code

/* Asserts obj's keys are id, conv, from, ts in that order, then exactly
 * the n names in fields (in any order). */
static void assert_stamp_then_fields(json_t *obj, const char *const *fields,
                                     size_t n)
{
    static const char *const head[] = {"id", "conv", "from", "ts"};
    void *it = json_object_iter(obj);

    for (size_t i = 0; i < 4; i++) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), head[i]);
        it = json_object_iter_next(obj, it);
    }
    assert_int_equal(json_object_size(obj), 4 + n);
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(obj, fields[i]) == NULL)
            fail_msg("output lacks \"%s\"", fields[i]);
    }
    assert_string_equal(json_string_value(json_object_get(obj, "id")),
                        STAMP_ID_STR);
    assert_string_equal(json_string_value(json_object_get(obj, "conv")), CONV);
    assert_string_equal(json_string_value(json_object_get(obj, "from")), ALICE);
    assert_true(json_is_integer(json_object_get(obj, "ts")));
    assert_int_equal(json_integer_value(json_object_get(obj, "ts")), STAMP_TS);
}

static const char *str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

/* A text message whose body is n copies of unit (a UTF-8 sequence);
 * malloc'd, the caller frees it. */
static char *text_with_repeated_body(const char *unit, size_t n)
{
    static const char head[] = "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"";
    static const char tail[] = "\"}";
    size_t ul = strlen(unit);
    size_t len = strlen(head) + n * ul + strlen(tail);
    char *p = malloc(len + 1), *w = p;

    assert_non_null(p);
    w = stpcpy(w, head);
    for (size_t i = 0; i < n; i++)
        w = stpcpy(w, unit);
    stpcpy(w, tail);
    return p;
}

/* A data message padded to exactly len bytes (len >= 60); malloc'd. */
static char *data_message_of_size(size_t len)
{
    static const char head[] =
        "{\"txn\":\"t1\",\"type\":\"data\",\"data\":{\"x\":\"";
    static const char tail[] = "\"}}";
    size_t fixed = strlen(head) + strlen(tail);
    char *p;

    assert_true(len >= fixed);
    p = malloc(len + 1);
    assert_non_null(p);
    memcpy(p, head, strlen(head));
    memset(p + strlen(head), 'a', len - fixed);
    memcpy(p + len - strlen(tail), tail, strlen(tail) + 1);
    assert_int_equal(strlen(p), len);
    return p;
}

/* ---- happy paths ------------------------------------------------------ */

static void test_text_rewritten_exactly(void **state)
{
    static const char in[] =
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\"}";
    static const char want[] =
        "{\"id\":\"" STAMP_ID_STR "\",\"conv\":\"" CONV "\",\"from\":\"" ALICE
        "\",\"ts\":1700000000123,\"txn\":\"t1\",\"type\":\"text\","
        "\"body\":\"hi\"}";
    payload_rewrite_result out;
    payload_error err;

    (void)state;
    assert_int_equal(
        payload_rewrite(in, strlen(in), &default_limits, &stamp, &out, &err),
        0);
    assert_string_equal(out.json, want);
    assert_int_equal(out.len, strlen(want));
    assert_string_equal(out.txn, "t1");
    free(out.json);
}

static void test_text_with_unicode_body(void **state)
{
    static const char *const fields[] = {"txn", "type", "body"};
    json_t *o = rewrite_ok("{\"txn\":\"t1\",\"type\":\"text\",\"body\":"
                           "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");

    (void)state;
    assert_stamp_then_fields(o, fields, 3);
    assert_string_equal(str_field(o, "body"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
    json_decref(o);
}

static void test_media_with_attachments_and_caption(void **state)
{
    static const char *const fields[] = {"txn", "type", "body", "attachments"};
    json_t *o =
        rewrite_ok("{\"txn\":\"m1\",\"type\":\"media\",\"body\":\"look\","
                   "\"attachments\":[{\"media\":\"abc\"},"
                   "{\"media\":\"def\"}]}");
    json_t *want =
        json_loads("[{\"media\":\"abc\"},{\"media\":\"def\"}]", 0, NULL);

    (void)state;
    assert_stamp_then_fields(o, fields, 4);
    assert_string_equal(str_field(o, "type"), "media");
    assert_string_equal(str_field(o, "body"), "look");
    assert_true(json_equal(json_object_get(o, "attachments"), want));
    json_decref(want);
    json_decref(o);
}

static void test_media_without_caption(void **state)
{
    static const char *const fields[] = {"txn", "type", "attachments"};
    json_t *o = rewrite_ok("{\"txn\":\"m1\",\"type\":\"media\","
                           "\"attachments\":[{\"media\":\"abc\"}]}");

    (void)state;
    assert_stamp_then_fields(o, fields, 3);
    json_decref(o);
}

static void test_media_with_ten_attachments(void **state)
{
    json_t *o =
        rewrite_ok("{\"txn\":\"m1\",\"type\":\"media\",\"attachments\":["
                   "{\"media\":\"1\"},{\"media\":\"2\"},{\"media\":\"3\"},"
                   "{\"media\":\"4\"},{\"media\":\"5\"},{\"media\":\"6\"},"
                   "{\"media\":\"7\"},{\"media\":\"8\"},{\"media\":\"9\"},"
                   "{\"media\":\"10\"}]}");

    (void)state;
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 10);
    json_decref(o);
}

static void test_e2e_object_passed_untouched(void **state)
{
    static const char *const fields[] = {"txn", "type", "e2e"};
    static const char e2e[] =
        "{\"v\":1,\"ct\":\"b64==\",\"keys\":[{\"d\":\"x\",\"k\":\"y\"}],"
        "\"body\":\"not the server's\"}";
    char in[512];
    json_t *o, *want;

    (void)state;
    snprintf(in, sizeof in, "{\"txn\":\"e1\",\"type\":\"e2e\",\"e2e\":%s}",
             e2e);
    o = rewrite_ok(in);
    want = json_loads(e2e, 0, NULL);
    assert_stamp_then_fields(o, fields, 3);
    assert_null(json_object_get(o, "body"));
    assert_true(json_equal(json_object_get(o, "e2e"), want));
    json_decref(want);
    json_decref(o);
}

static void test_data_object_passed(void **state)
{
    static const char *const fields[] = {"txn", "type", "data"};
    json_t *o = rewrite_ok("{\"txn\":\"d1\",\"type\":\"data\","
                           "\"data\":{\"temp\":21.5,\"unit\":\"C\"}}");
    json_t *want = json_loads("{\"temp\":21.5,\"unit\":\"C\"}", 0, NULL);

    (void)state;
    assert_stamp_then_fields(o, fields, 3);
    assert_true(json_equal(json_object_get(o, "data"), want));
    json_decref(want);
    json_decref(o);
}

static void test_id_is_decimal_string_of_stamp(void **state)
{
    static const char in[] =
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\"}";
    payload_stamp big = stamp;
    payload_rewrite_result out;
    payload_error err;
    json_t *o;

    (void)state;
    big.id = (uint64_t)INT64_MAX;
    assert_int_equal(
        payload_rewrite(in, strlen(in), &default_limits, &big, &out, &err), 0);
    o = json_loads(out.json, 0, NULL);
    assert_string_equal(str_field(o, "id"), "9223372036854775807");
    json_decref(o);
    free(out.json);
}

static void test_client_stamp_and_unknown_fields_dropped(void **state)
{
    static const char *const fields[] = {"txn", "type", "body"};
    json_t *o = rewrite_ok(
        "{\"id\":\"1\",\"conv\":\"22222222-2222-4222-8222-222222222222\","
        "\"from\":\"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb\",\"ts\":5,"
        "\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
        "\"role\":\"admin\",\"edited_at\":1,\"x\":{\"y\":1}}");

    (void)state;
    /* assert_stamp_then_fields checks id/conv/from/ts are the server's and
     * that nothing but txn, type and body follows. */
    assert_stamp_then_fields(o, fields, 3);
    json_decref(o);
}

static void test_reply_to_kept_when_valid_id(void **state)
{
    static const char *const fields[] = {"txn", "type", "body", "reply_to"};
    json_t *o = rewrite_ok("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
                           "\"reply_to\":\"9223372036854775807\"}");

    (void)state;
    assert_stamp_then_fields(o, fields, 4);
    assert_string_equal(str_field(o, "reply_to"), "9223372036854775807");
    json_decref(o);
}

static void test_reply_to_refused_when_not_an_id(void **state)
{
    static const char *const bad[] = {
        "\"abc\"", "\"\"",    "\"0123\"",
        "\"-1\"",  "\"12 \"", "\"9223372036854775808\"", /* INT64_MAX + 1 */
        "12345", /* a number, not a string */
        "null",    "[\"1\"]",
    };
    char in[256];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(in, sizeof in,
                 "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
                 "\"reply_to\":%s}",
                 bad[i]);
        assert_string_equal(rewrite_code(in), "invalid_reply_to");
    }
}

static void test_txn_of_64_chars_accepted(void **state)
{
    json_t *o =
        rewrite_ok("{\"txn\":\"" TXN64 "\",\"type\":\"text\",\"body\":\"hi\"}");

    (void)state;
    assert_string_equal(str_field(o, "txn"), TXN64);
    json_decref(o);
}

/* ---- refusals: bytes -------------------------------------------------- */

static void test_refuses_overlong_utf8(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\xc0\xaf\"}"),
        "invalid_utf8");
}

static void test_refuses_surrogate_utf8(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\xed\xa0\x80\"}"),
        "invalid_utf8");
}

static void test_refuses_truncated_utf8(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\xe2\x82\"}"),
        "invalid_utf8");
    /* Cut at the very end of the payload. */
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"x\"}\xf0\x9f"),
        "invalid_utf8");
}

static void test_refuses_utf8_above_max_code_point(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\xf4\x90\x80\x80\"}"),
        "invalid_utf8");
}

static void test_refuses_nul_byte(void **state)
{
    (void)state;
    assert_string_equal(
        REWRITE_CODE_LIT(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a\0b\"}"),
        "invalid_utf8");
    assert_string_equal(
        REWRITE_CODE_LIT(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"ab\"}\0"),
        "invalid_utf8");
}

static void test_refuses_escaped_nul_and_lone_surrogate(void **state)
{
    (void)state;
    /* JSON escapes cannot smuggle in what raw bytes may not carry. */
    assert_string_equal(
        rewrite_code(
            "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a\\u0000b\"}"),
        "invalid_json");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\\ud800\"}"),
        "invalid_json");
}

static void test_payload_at_limit_accepted_over_refused(void **state)
{
    payload_limits small = {.max_payload_bytes = 100, .max_body_chars = 4000};
    char *at = data_message_of_size(100);
    char *over = data_message_of_size(101);
    json_t *o;

    (void)state;
    o = rewrite_ok_n(at, 100, &small);
    json_decref(o);
    assert_string_equal(rewrite_err_n(over, 101, &small).code, "too_large");
    free(at);
    free(over);
}

static void test_default_limit_is_16_kib(void **state)
{
    char *at = data_message_of_size(16384);
    char *over = data_message_of_size(16385);
    json_t *o;

    (void)state;
    o = rewrite_ok(at);
    json_decref(o);
    assert_string_equal(rewrite_code(over), "too_large");
    free(at);
    free(over);
}

static void test_size_checked_before_content(void **state)
{
    payload_limits tiny = {.max_payload_bytes = 4, .max_body_chars = 4000};

    (void)state;
    /* Oversize wins over invalid UTF-8 and invalid JSON: the refusal does
     * not depend on reading what is too large to read. */
    assert_string_equal(rewrite_err_n("\xc0\xaf{{{{", 6, &tiny).code,
                        "too_large");
}

/* ---- refusals: body --------------------------------------------------- */

static void test_body_length_counted_in_code_points(void **state)
{
    /* 4000 emoji are 16000 bytes but 4000 characters. */
    char *at = text_with_repeated_body("\xf0\x9f\x98\x80", 4000);
    char *over = text_with_repeated_body("\xf0\x9f\x98\x80", 4001);
    json_t *o;

    (void)state;
    o = rewrite_ok(at);
    assert_int_equal(strlen(str_field(o, "body")), 16000);
    json_decref(o);
    assert_string_equal(rewrite_code(over), "body_too_long");
    free(at);
    free(over);
}

static void test_body_limit_is_configurable(void **state)
{
    payload_limits five = {.max_payload_bytes = 16384, .max_body_chars = 5};
    static const char ok[] =
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\"}";
    static const char over[] =
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"abcdef\"}";
    json_t *o;

    (void)state;
    o = rewrite_ok_n(ok, strlen(ok), &five);
    json_decref(o);
    assert_string_equal(rewrite_err_n(over, strlen(over), &five).code,
                        "body_too_long");
}

static void test_media_caption_length_checked(void **state)
{
    payload_limits five = {.max_payload_bytes = 16384, .max_body_chars = 5};
    static const char over[] =
        "{\"txn\":\"t1\",\"type\":\"media\",\"body\":\"abcdef\","
        "\"attachments\":[{\"media\":\"abc\"}]}";

    (void)state;
    assert_string_equal(rewrite_err_n(over, strlen(over), &five).code,
                        "body_too_long");
}

static void test_refuses_empty_body(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\"}"),
        "invalid_body");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"media\",\"body\":\"\","
                     "\"attachments\":[{\"media\":\"abc\"}]}"),
        "invalid_body");
}

static void test_refuses_text_without_body_or_non_string_body(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("{\"txn\":\"t1\",\"type\":\"text\"}"),
                        "invalid_body");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":42}"),
        "invalid_body");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":null}"),
        "invalid_body");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":[\"hi\"]}"),
        "invalid_body");
}

/* ---- refusals: txn ---------------------------------------------------- */

static void test_refuses_missing_txn(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("{\"type\":\"text\",\"body\":\"hi\"}"),
                        "missing_txn");
}

static void test_refuses_invalid_txn(void **state)
{
    static const char *const bad[] = {
        "42",      "null",          "true",    "[\"t\"]", "{\"t\":1}",
        "\"\"",    "\"" TXN65 "\"", "\"a/b\"", "\"a b\"", "\"caf\xc3\xa9\"",
        "\"a+b\"", "\"a#b\"",       "\"a:b\"", "\"a.b\"", "\"t\\n\"",
    };
    char in[256];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(in, sizeof in,
                 "{\"txn\":%s,\"type\":\"text\",\"body\":\"hi\"}", bad[i]);
        if (strcmp(rewrite_code(in), "invalid_txn") != 0)
            fail_msg("txn %s should be invalid_txn", bad[i]);
    }
}

static void test_txn_valid_rule(void **state)
{
    (void)state;
    assert_true(payload_txn_valid("a"));
    assert_true(payload_txn_valid(TXN64));
    assert_false(payload_txn_valid(TXN65));
    assert_false(payload_txn_valid(""));
    assert_false(payload_txn_valid(NULL));
    assert_false(payload_txn_valid("a/b"));
}

/* ---- refusals: type and shape ---------------------------------------- */

static void test_refuses_unknown_type(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"video\",\"body\":\"hi\"}"),
        "unknown_type");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"TEXT\",\"body\":\"hi\"}"),
        "unknown_type");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"\",\"body\":\"hi\"}"),
        "unknown_type");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"ack\",\"body\":\"hi\"}"),
        "unknown_type");
}

static void test_refuses_missing_or_non_string_type(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("{\"txn\":\"t1\",\"body\":\"hi\"}"),
                        "unknown_type");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":1,\"body\":\"hi\"}"),
        "unknown_type");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":null,\"body\":\"hi\"}"),
        "unknown_type");
}

static void test_refuses_non_object_json(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("[]"), "invalid_payload");
    assert_string_equal(rewrite_code("[{\"txn\":\"t1\"}]"), "invalid_payload");
    assert_string_equal(rewrite_code("\"text\""), "invalid_payload");
    assert_string_equal(rewrite_code("42"), "invalid_payload");
    assert_string_equal(rewrite_code("null"), "invalid_payload");
    assert_string_equal(rewrite_code("true"), "invalid_payload");
}

static void test_refuses_not_json(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("hello"), "invalid_json");
    assert_string_equal(rewrite_code("{"), "invalid_json");
    assert_string_equal(rewrite_code("{\"txn\":\"t1\",}"), "invalid_json");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\"} x"),
        "invalid_json");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\"}{}"),
        "invalid_json");
    assert_string_equal(rewrite_err_n("", 0, &default_limits).code,
                        "invalid_json");
}

static void test_refuses_duplicate_keys(void **state)
{
    (void)state;
    /* Two txns or two bodies: which one would the server keep, and which
     * one would a client reading the raw payload see? */
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"txn\":\"t2\",\"type\":\"text\","
                     "\"body\":\"hi\"}"),
        "invalid_json");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a\","
                     "\"body\":\"b\"}"),
        "invalid_json");
}

/* ---- refusals: per-type fields --------------------------------------- */

static void test_refuses_text_with_other_type_fields(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
                     "\"attachments\":[{\"media\":\"abc\"}]}"),
        "invalid_payload");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
                     "\"e2e\":{}}"),
        "invalid_payload");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\","
                     "\"data\":{}}"),
        "invalid_payload");
}

static void test_refuses_media_without_valid_attachments(void **state)
{
    static const char *const bad[] = {
        NULL, /* no attachments at all */
        "[]",
        "[{\"media\":\"1\"},{\"media\":\"2\"},{\"media\":\"3\"},"
        "{\"media\":\"4\"},{\"media\":\"5\"},{\"media\":\"6\"},"
        "{\"media\":\"7\"},{\"media\":\"8\"},{\"media\":\"9\"},"
        "{\"media\":\"10\"},{\"media\":\"11\"}]",
        "[{\"id\":\"abc\"}]",
        "[{\"media\":\"abc\"},{}]",
        "[{\"media\":\"\"}]",
        "[{\"media\":42}]",
        "[\"abc\"]",
        "[null]",
        "{\"media\":\"abc\"}",
        "\"abc\"",
        "[{\"media\":\"0123456789012345678901234567890123456789012345678901"
        "234567890123456789\"}]", /* a 70-character id */
    };
    char in[1024];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i] == NULL)
            snprintf(in, sizeof in,
                     "{\"txn\":\"t1\",\"type\":\"media\",\"body\":\"x\"}");
        else
            snprintf(in, sizeof in,
                     "{\"txn\":\"t1\",\"type\":\"media\",\"attachments\":%s}",
                     bad[i]);
        if (strcmp(rewrite_code(in), "invalid_attachments") != 0)
            fail_msg("attachments %s should be invalid_attachments",
                     bad[i] == NULL ? "(missing)" : bad[i]);
    }
}

static void test_refuses_media_with_e2e_or_data(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"media\","
                     "\"attachments\":[{\"media\":\"abc\"}],\"e2e\":{}}"),
        "invalid_payload");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"media\","
                     "\"attachments\":[{\"media\":\"abc\"}],\"data\":{}}"),
        "invalid_payload");
}

static void test_refuses_e2e_with_body(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"e2e\",\"e2e\":{\"ct\":\"x\"},"
                     "\"body\":\"plain text leak\"}"),
        "invalid_payload");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"e2e\",\"e2e\":{\"ct\":\"x\"},"
                     "\"attachments\":[{\"media\":\"abc\"}]}"),
        "invalid_payload");
}

static void test_refuses_e2e_without_object(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("{\"txn\":\"t1\",\"type\":\"e2e\"}"),
                        "invalid_e2e");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"e2e\",\"e2e\":\"ct\"}"),
        "invalid_e2e");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"e2e\",\"e2e\":[1]}"),
        "invalid_e2e");
}

static void test_refuses_data_non_object(void **state)
{
    (void)state;
    assert_string_equal(rewrite_code("{\"txn\":\"t1\",\"type\":\"data\"}"),
                        "invalid_data");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"data\",\"data\":[1,2]}"),
        "invalid_data");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"data\",\"data\":\"x\"}"),
        "invalid_data");
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"data\",\"data\":7}"),
        "invalid_data");
}

static void test_refuses_data_with_body(void **state)
{
    (void)state;
    assert_string_equal(
        rewrite_code("{\"txn\":\"t1\",\"type\":\"data\",\"data\":{},"
                     "\"body\":\"hi\"}"),
        "invalid_payload");
}

/* ---- err->txn ---------------------------------------------------------- */

static void test_error_carries_txn_when_readable(void **state)
{
    static const char unknown_type[] = "{\"txn\":\"abc-1\",\"type\":\"video\"}";
    static const char empty_body[] =
        "{\"txn\":\"abc-2\",\"type\":\"text\",\"body\":\"\"}";
    static const char bad_reply[] = "{\"txn\":\"abc-3\",\"type\":\"text\","
                                    "\"body\":\"x\",\"reply_to\":\"x\"}";

    (void)state;
    assert_string_equal(
        rewrite_err_n(unknown_type, strlen(unknown_type), &default_limits).txn,
        "abc-1");
    assert_string_equal(
        rewrite_err_n(empty_body, strlen(empty_body), &default_limits).txn,
        "abc-2");
    assert_string_equal(
        rewrite_err_n(bad_reply, strlen(bad_reply), &default_limits).txn,
        "abc-3");
}

static void test_error_txn_empty_when_unreadable(void **state)
{
    static const char missing[] = "{\"type\":\"text\",\"body\":\"x\"}";
    static const char invalid[] =
        "{\"txn\":\"a/b\",\"type\":\"text\",\"body\":\"x\"}";
    static const char not_json[] = "{\"txn\":\"abc\",";
    payload_error err;

    (void)state;
    err = rewrite_err_n(missing, strlen(missing), &default_limits);
    assert_string_equal(err.txn, "");
    err = rewrite_err_n(invalid, strlen(invalid), &default_limits);
    assert_string_equal(err.txn, "");
    err = rewrite_err_n(not_json, strlen(not_json), &default_limits);
    assert_string_equal(err.txn, "");
}

/* ---- typing ------------------------------------------------------------ */

static void test_typing_states_rewritten_with_from(void **state)
{
    static const char *const states[] = {"typing", "paused"};
    char in[128];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        char *out = NULL;
        size_t out_len = 0;
        payload_error err;
        json_t *o;

        /* A client-sent from is replaced; other fields are dropped. */
        snprintf(in, sizeof in,
                 "{\"state\":\"%s\",\"from\":\"someone-else\",\"x\":1}",
                 states[i]);
        assert_int_equal(
            payload_rewrite_typing(in, strlen(in), ALICE, &out, &out_len, &err),
            0);
        assert_int_equal(out_len, strlen(out));
        o = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(o);
        assert_int_equal(json_object_size(o), 2);
        assert_string_equal(str_field(o, "state"), states[i]);
        assert_string_equal(str_field(o, "from"), ALICE);
        json_decref(o);
        free(out);
    }
}

static void test_typing_refuses_other_input(void **state)
{
    static const char *const bad[] = {
        "{\"state\":\"read\"}",
        "{\"state\":\"Typing\"}",
        "{\"state\":\"\"}",
        "{\"state\":1}",
        "{}",
        "[\"typing\"]",
        "\"typing\"",
        "typing",
        "{\"state\":\"typing\",\"state\":\"paused\"}",
        "{\"state\":\"typing\xc0\xaf\"}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        size_t out_len = 0;
        payload_error err;

        if (payload_rewrite_typing(bad[i], strlen(bad[i]), ALICE, &out,
                                   &out_len, &err) == 0) {
            free(out);
            fail_msg("typing payload %s should be refused", bad[i]);
        }
        assert_null(out);
        assert_non_null(err.code);
    }
}

static void test_typing_refuses_nul_and_oversize(void **state)
{
    static const char with_nul[] = "{\"state\":\"typing\"}\0";
    char big[2048];
    char *out = NULL;
    size_t out_len = 0;
    payload_error err;

    (void)state;
    assert_int_equal(payload_rewrite_typing(with_nul, sizeof with_nul - 1,
                                            ALICE, &out, &out_len, &err),
                     -1);
    assert_string_equal(err.code, "invalid_utf8");
    /* A valid notice padded with whitespace past any reasonable size. */
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"state\":\"typing\"}", 18);
    assert_int_equal(
        payload_rewrite_typing(big, sizeof big, ALICE, &out, &out_len, &err),
        -1);
    assert_string_equal(err.code, "too_large");
    assert_null(out);
}

/* ---- the one-scan checker: jansson's rules and jansson's text ---------- */

/* The rewrite of in, which must be accepted, compared as text. */
static void assert_rewrite_text(const char *in, const char *want_fields)
{
    payload_rewrite_result out;
    payload_error err;
    char want[1024];

    snprintf(want, sizeof want,
             "{\"id\":\"" STAMP_ID_STR "\",\"conv\":\"" CONV
             "\",\"from\":\"" ALICE "\",\"ts\":1700000000123,%s}",
             want_fields);
    if (payload_rewrite(in, strlen(in), &default_limits, &stamp, &out, &err) !=
        0)
        fail_msg("refused with %s: %s", err.code, err.detail);
    assert_string_equal(out.json, want);
    free(out.json);
}

static void test_values_written_as_jansson_writes_them(void **state)
{
    (void)state;
    /* Whitespace outside strings goes; inside strings it stays. */
    assert_rewrite_text(
        " { \"txn\" : \"d1\" ,\r\n\t\"type\":\"data\", \"data\" : "
        "{ \"a\" : [ 1 , true , null ] , \"s\" : \" x \" } }\n",
        "\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"a\":[1,true,null],"
        "\"s\":\" x \"}");
    /* Escapes are decoded and written again the way jansson escapes. */
    assert_rewrite_text(
        "{\"t\\u0078n\":\"t\\u0031\",\"type\":\"t\\u0065xt\","
        "\"body\":\"a\\/b\\u00e9\\ud83d\\ude00\\n\\u001f\\\"\\\\\"}",
        "\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a/b\xc3\xa9\xf0\x9f\x98\x80"
        "\\n\\u001F\\\"\\\\\"");
    /* Reals as "%.17g" with a ".0" or a bare exponent; -0 as 0. */
    assert_rewrite_text(
        "{\"txn\":\"d2\",\"type\":\"data\",\"data\":{\"r\":21.50,\"e\":1E2,"
        "\"big\":1e300,\"neg\":-0,\"negr\":-0.0,\"small\":2.5e-7}}",
        "\"txn\":\"d2\",\"type\":\"data\",\"data\":{\"r\":21.5,"
        "\"e\":100.0,\"big\":1.0000000000000001e300,\"neg\":0,"
        "\"negr\":-0.0,\"small\":2.4999999999999999e-7}");
}

static void test_refuses_what_jansson_refuses(void **state)
{
    static const char *const bad[] = {
        /* integers beyond int64, reals beyond double */
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"i\":9223372036854775808}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"i\":-9223372036854775809}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"r\":1e309}}",
        /* a duplicate spelled with an escape, deep inside */
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"k\":{\"ab\":1,"
        "\"a\\u0062\":2}}}",
        /* lone surrogates, \u0000, bad escapes, raw control characters */
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\\ud800\"}",
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\\udc00\\ud800\"}",
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a\\u0000\"}",
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\\x\"}",
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"a\tb\"}",
        /* numbers jansson's lexer refuses */
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"n\":01}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"n\":1.}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"n\":+1}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"n\":1e}}",
        "{\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"n\":tru}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        payload_error err = rewrite_err_n(bad[i], strlen(bad[i]),
                                          &default_limits);
        if (strcmp(err.code, "invalid_json") != 0)
            fail_msg("%s: %s", bad[i], err.code);
    }
    /* The detail is jansson's own. */
    assert_string_equal(
        rewrite_err_n("{\"txn\":\"t1\",}", 13, &default_limits).detail,
        "payload is not JSON: string or '}' expected near '}'");
}

/* jansson refuses a value nested in more than 2048 levels (the top-level
 * object is the first). */
static void test_nesting_limit_is_janssons(void **state)
{
    static const char head[] = "{\"txn\":\"d1\",\"type\":\"data\",\"data\":"
                               "{\"x\":";
    size_t depth_ok = 2048 - 3; /* arrays inside object, data, x */
    char *p = malloc(sizeof head + 2 * 2048 + 16);
    payload_error err;
    size_t n;

    (void)state;
    assert_non_null(p);
    for (int extra = 0; extra < 2; extra++) {
        size_t arrays = depth_ok + (size_t)extra;
        n = strlen(strcpy(p, head));
        memset(p + n, '[', arrays);
        n += arrays;
        p[n++] = '1';
        memset(p + n, ']', arrays);
        n += arrays;
        memcpy(p + n, "}}", 3);
        n += 2;
        if (extra == 0) {
            json_decref(rewrite_ok_n(p, n, &default_limits));
        } else {
            err = rewrite_err_n(p, n, &default_limits);
            assert_string_equal(err.code, "invalid_json");
        }
    }
    free(p);
}

/* ---- parse + render ---------------------------------------------------- */

static void test_parse_then_render_equals_rewrite(void **state)
{
    static const char *const inputs[] = {
        "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"hi\",\"reply_to\":"
        "\"77\"}",
        "{\"txn\":\"m1\",\"type\":\"media\",\"body\":\"c\","
        "\"attachments\":[{\"media\":\"abc\"}]}",
        "{\"txn\":\"e1\",\"type\":\"e2e\",\"e2e\":{\"ct\":\"x\"}}",
        "{\"ts\":1,\"txn\":\"d1\",\"type\":\"data\",\"data\":{\"k\":[1,2]}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t len = strlen(inputs[i]);
        payload_rewrite_result one, two;
        payload_message msg;
        payload_error err;

        assert_int_equal(payload_rewrite(inputs[i], len, &default_limits,
                                         &stamp, &one, &err),
                         0);
        assert_int_equal(
            payload_parse(inputs[i], len, &default_limits, &msg, &err), 0);
        assert_int_not_equal(msg.type, 0);
        assert_string_equal(msg.txn, one.txn);
        assert_int_equal(payload_render(&msg, &stamp, &two), 0);
        assert_string_equal(one.json, two.json);
        assert_int_equal(one.len, two.len);
        assert_string_equal(one.txn, two.txn);
        /* Rendering twice gives the same text: render does not consume. */
        free(two.json);
        assert_int_equal(payload_render(&msg, &stamp, &two), 0);
        assert_string_equal(one.json, two.json);
        payload_message_free(&msg);
        payload_message_free(&msg); /* twice is harmless */
        free(one.json);
        free(two.json);
    }
    payload_message_free(NULL);
}

static void test_parse_failure_leaves_nothing(void **state)
{
    static const char in[] = "{\"txn\":\"t1\",\"type\":\"text\",\"body\":\"\"}";
    payload_message msg;
    payload_error err;

    (void)state;
    memset(&msg, 0xee, sizeof msg);
    assert_int_equal(payload_parse(in, strlen(in), &default_limits, &msg, &err),
                     -1);
    assert_int_equal(msg.type, 0);
    assert_null(msg.body.text);
    assert_string_equal(err.code, "invalid_body");
    assert_string_equal(err.txn, "t1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_rewritten_exactly),
        cmocka_unit_test(test_text_with_unicode_body),
        cmocka_unit_test(test_media_with_attachments_and_caption),
        cmocka_unit_test(test_media_without_caption),
        cmocka_unit_test(test_media_with_ten_attachments),
        cmocka_unit_test(test_e2e_object_passed_untouched),
        cmocka_unit_test(test_data_object_passed),
        cmocka_unit_test(test_id_is_decimal_string_of_stamp),
        cmocka_unit_test(test_client_stamp_and_unknown_fields_dropped),
        cmocka_unit_test(test_reply_to_kept_when_valid_id),
        cmocka_unit_test(test_reply_to_refused_when_not_an_id),
        cmocka_unit_test(test_txn_of_64_chars_accepted),

        cmocka_unit_test(test_refuses_overlong_utf8),
        cmocka_unit_test(test_refuses_surrogate_utf8),
        cmocka_unit_test(test_refuses_truncated_utf8),
        cmocka_unit_test(test_refuses_utf8_above_max_code_point),
        cmocka_unit_test(test_refuses_nul_byte),
        cmocka_unit_test(test_refuses_escaped_nul_and_lone_surrogate),
        cmocka_unit_test(test_payload_at_limit_accepted_over_refused),
        cmocka_unit_test(test_default_limit_is_16_kib),
        cmocka_unit_test(test_size_checked_before_content),

        cmocka_unit_test(test_body_length_counted_in_code_points),
        cmocka_unit_test(test_body_limit_is_configurable),
        cmocka_unit_test(test_media_caption_length_checked),
        cmocka_unit_test(test_refuses_empty_body),
        cmocka_unit_test(test_refuses_text_without_body_or_non_string_body),

        cmocka_unit_test(test_refuses_missing_txn),
        cmocka_unit_test(test_refuses_invalid_txn),
        cmocka_unit_test(test_txn_valid_rule),

        cmocka_unit_test(test_refuses_unknown_type),
        cmocka_unit_test(test_refuses_missing_or_non_string_type),
        cmocka_unit_test(test_refuses_non_object_json),
        cmocka_unit_test(test_refuses_not_json),
        cmocka_unit_test(test_refuses_duplicate_keys),

        cmocka_unit_test(test_refuses_text_with_other_type_fields),
        cmocka_unit_test(test_refuses_media_without_valid_attachments),
        cmocka_unit_test(test_refuses_media_with_e2e_or_data),
        cmocka_unit_test(test_refuses_e2e_with_body),
        cmocka_unit_test(test_refuses_e2e_without_object),
        cmocka_unit_test(test_refuses_data_non_object),
        cmocka_unit_test(test_refuses_data_with_body),

        cmocka_unit_test(test_error_carries_txn_when_readable),
        cmocka_unit_test(test_error_txn_empty_when_unreadable),

        cmocka_unit_test(test_typing_states_rewritten_with_from),
        cmocka_unit_test(test_typing_refuses_other_input),
        cmocka_unit_test(test_typing_refuses_nul_and_oversize),

        cmocka_unit_test(test_values_written_as_jansson_writes_them),
        cmocka_unit_test(test_refuses_what_jansson_refuses),
        cmocka_unit_test(test_nesting_limit_is_janssons),

        cmocka_unit_test(test_parse_then_render_equals_rewrite),
        cmocka_unit_test(test_parse_failure_leaves_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
