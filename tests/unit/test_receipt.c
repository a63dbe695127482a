/*
 * test_receipt.c - unit tests for payload_rewrite_receipt (plugin/payload.c),
 * the check and server rewrite of a read or delivered receipt published on
 * conv/{c}/receipt: both types accepted and rebuilt as exactly
 * {"type","up_to","conv","from","ts"} with the server's conv, from and
 * clock; refused with "invalid_receipt" for any other type or an up_to
 * that is not a message id or names a message minted more than
 * PAYLOAD_RECEIPT_SKEW_MS ahead of the clock; and refused with the common
 * payload codes (PROTOCOL.md) when the payload is not a UTF-8 JSON object
 * or is over 1024 bytes.
 *
 * Outputs are read back with jansson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "plugin/payload.h"

#define CONV "11111111-1111-4111-8111-111111111111"
#define ALICE "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define NOW_MS 1795638659462LL
#define RECEIPT_MAX 1024

/* ---- helpers ---------------------------------------------------------- */

/* The decimal form of an id minted by node 7 at unix_ms. */
static void id_at(int64_t unix_ms, char *buf, size_t size)
{
    id_minter m;

    assert_int_equal(id_minter_init(&m, 7), 0);
    snprintf(buf, size, "%" PRIu64, id_minter_next(&m, (uint64_t)unix_ms));
}

/* Rewrites len bytes at now_ms; asserts success and returns the output
 * parsed as a JSON object (the caller decrefs it). */
static json_t *receipt_ok_n(const void *payload, size_t len, int64_t now_ms)
{
    char *out = NULL;
    size_t out_len = 0;
    payload_error err;
    json_error_t jerr;
    json_t *obj;

    if (payload_rewrite_receipt(payload, len, CONV, ALICE, now_ms, &out,
                                &out_len, &err) != 0)
        fail_msg("refused with %s: %s", err.code, err.detail);
    assert_non_null(out);
    assert_int_equal(out_len, strlen(out));
    obj = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, &jerr);
    free(out);
    if (obj == NULL)
        fail_msg("output is not JSON: %s", jerr.text);
    assert_true(json_is_object(obj));
    return obj;
}

static json_t *receipt_ok(const char *payload)
{
    return receipt_ok_n(payload, strlen(payload), NOW_MS);
}

/* Rewrites len bytes at now_ms; asserts refusal with nothing allocated and
 * returns the error code (a static string). */
static const char *receipt_code_n(const void *payload, size_t len,
                                  int64_t now_ms)
{
    char *out = NULL;
    size_t out_len = 0;
    payload_error err;

    memset(&err, 0, sizeof err);
    if (payload_rewrite_receipt(payload, len, CONV, ALICE, now_ms, &out,
                                &out_len, &err) == 0) {
        char shown[201];

        snprintf(shown, sizeof shown, "%s", out);
        free(out);
        fail_msg("accepted: %s", shown);
    }
    assert_null(out);
    assert_non_null(err.code);
    assert_true(err.detail[0] != '\0');
    /* Receipts have no txn. */
    assert_string_equal(err.txn, "");
    return err.code;
}

static const char *receipt_code(const char *payload)
{
    return receipt_code_n(payload, strlen(payload), NOW_MS);
}

/* The code for a literal that may hold NUL bytes. */
#define RECEIPT_CODE_LIT(lit) receipt_code_n((lit), sizeof(lit) - 1, NOW_MS)

/* Asserts obj is exactly the server's receipt: type, up_to, conv, from and
 * ts, nothing else. */
static void assert_receipt(json_t *obj, const char *type, const char *up_to,
                           int64_t ts)
{
    json_t *v;

    assert_int_equal(json_object_size(obj), 5);
    v = json_object_get(obj, "type");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), type);
    v = json_object_get(obj, "up_to");
    assert_true(json_is_string(v)); /* still a string: ids exceed 2^53 */
    assert_string_equal(json_string_value(v), up_to);
    v = json_object_get(obj, "conv");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), CONV);
    v = json_object_get(obj, "from");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), ALICE);
    v = json_object_get(obj, "ts");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), ts);
}

/* ---- accepted ---------------------------------------------------------- */

static void test_read_rewritten_exactly(void **state)
{
    char id[32], in[128];
    json_t *o;

    (void)state;
    id_at(NOW_MS - 60000, id, sizeof id);
    snprintf(in, sizeof in, "{\"type\":\"read\",\"up_to\":\"%s\"}", id);
    o = receipt_ok(in);
    assert_receipt(o, "read", id, NOW_MS);
    json_decref(o);
}

static void test_delivered_rewritten_exactly(void **state)
{
    char id[32], in[128];
    json_t *o;

    (void)state;
    id_at(NOW_MS - 1, id, sizeof id);
    snprintf(in, sizeof in, "{\"up_to\":\"%s\",\"type\":\"delivered\"}", id);
    o = receipt_ok(in);
    assert_receipt(o, "delivered", id, NOW_MS);
    json_decref(o);
}

static void test_client_stamp_and_unknown_fields_replaced(void **state)
{
    char id[32], in[512];
    json_t *o;

    (void)state;
    id_at(NOW_MS, id, sizeof id);
    /* A client's own conv, from and ts are the server's to set; anything
     * else is dropped. */
    snprintf(in, sizeof in,
             "{\"type\":\"read\",\"up_to\":\"%s\",\"conv\":\"x\","
             "\"from\":\"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb\",\"ts\":1,"
             "\"txn\":\"t1\",\"extra\":{\"a\":[1,2]}}",
             id);
    o = receipt_ok(in);
    assert_receipt(o, "read", id, NOW_MS);
    json_decref(o);
}

static void test_smallest_and_largest_ids_accepted(void **state)
{
    json_t *o;

    (void)state;
    o = receipt_ok("{\"type\":\"read\",\"up_to\":\"1\"}");
    assert_receipt(o, "read", "1", NOW_MS);
    json_decref(o);
    /* INT64_MAX is a valid id by form; its clock is far in the future,
     * so it passes only with a clock that far along. */
    o = receipt_ok_n("{\"type\":\"read\",\"up_to\":\"9223372036854775807\"}",
                     strlen("{\"type\":\"read\",\"up_to\":"
                            "\"9223372036854775807\"}"),
                     (int64_t)id_unix_ms(INT64_MAX));
    assert_receipt(o, "read", "9223372036854775807",
                   (int64_t)id_unix_ms(INT64_MAX));
    json_decref(o);
}

static void test_up_to_within_skew_accepted(void **state)
{
    char id[32], in[128];
    json_t *o;

    (void)state;
    /* Another node's clock may run a little ahead of ours. */
    id_at(NOW_MS + PAYLOAD_RECEIPT_SKEW_MS, id, sizeof id);
    snprintf(in, sizeof in, "{\"type\":\"read\",\"up_to\":\"%s\"}", id);
    o = receipt_ok(in);
    assert_receipt(o, "read", id, NOW_MS);
    json_decref(o);
}

static void test_at_size_limit_accepted(void **state)
{
    char in[RECEIPT_MAX];
    static const char body[] = "{\"type\":\"read\",\"up_to\":\"42\"}";
    json_t *o;

    (void)state;
    /* Padded with whitespace to exactly the limit. */
    memset(in, ' ', sizeof in);
    memcpy(in, body, strlen(body));
    o = receipt_ok_n(in, sizeof in, NOW_MS);
    assert_receipt(o, "read", "42", NOW_MS);
    json_decref(o);
}

/* ---- refused: type ----------------------------------------------------- */

static void test_refuses_other_or_missing_type(void **state)
{
    static const char *const types[] = {
        "\"receipt\"", "\"Read\"",   "\"READ\"", "\"seen\"",
        "\"reads\"",   "\"rea\"",    "\"\"",     "\"delivered \"",
        "1",           "null",       "true",     "[\"read\"]",
        "{}",          "\"typing\"", "\"text\"",
    };
    char in[128];

    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(in, sizeof in, "{\"type\":%s,\"up_to\":\"42\"}", types[i]);
        if (strcmp(receipt_code(in), "invalid_receipt") != 0)
            fail_msg("type %s should be invalid_receipt", types[i]);
    }
    assert_string_equal(receipt_code("{\"up_to\":\"42\"}"), "invalid_receipt");
    assert_string_equal(receipt_code("{}"), "invalid_receipt");
}

/* ---- refused: up_to ---------------------------------------------------- */

static void test_refuses_missing_up_to(void **state)
{
    (void)state;
    assert_string_equal(receipt_code("{\"type\":\"read\"}"), "invalid_receipt");
    assert_string_equal(
        receipt_code("{\"type\":\"delivered\",\"upto\":\"42\"}"),
        "invalid_receipt");
}

static void test_refuses_up_to_not_a_string(void **state)
{
    static const char *const values[] = {
        "42",       "384078538707304448", "4.2", "null", "true",
        "[\"42\"]", "{\"id\":\"42\"}",
    };
    char in[128];

    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        snprintf(in, sizeof in, "{\"type\":\"read\",\"up_to\":%s}", values[i]);
        if (strcmp(receipt_code(in), "invalid_receipt") != 0)
            fail_msg("up_to %s should be invalid_receipt", values[i]);
    }
}

static void test_refuses_up_to_not_a_decimal_id(void **state)
{
    static const char *const values[] = {
        "",
        "abc",
        "-1",
        "+1",
        "0123",
        "00",
        " 42",
        "42 ",
        "4 2",
        "1.5",
        "1e3",
        "0x2a",
        "42abc",
        "\\u0034\\u0032x",
        "\\uff14\\uff12",       /* full-width digits */
        "9223372036854775808",  /* INT64_MAX + 1 */
        "18446744073709551615", /* UINT64_MAX */
        "18446744073709551616", /* wraps to 0 in 64 bits */
        "99999999999999999999", /* 20 digits */
        "000000000000000000042",
    };
    /* Also with the clock at the largest id's time, so that what is
     * refused is the form of the id and not its time. */
    const int64_t clocks[] = {NOW_MS, (int64_t)id_unix_ms(INT64_MAX)};
    char in[160];

    (void)state;
    for (size_t c = 0; c < sizeof clocks / sizeof clocks[0]; c++) {
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            snprintf(in, sizeof in, "{\"type\":\"read\",\"up_to\":\"%s\"}",
                     values[i]);
            if (strcmp(receipt_code_n(in, strlen(in), clocks[c]),
                       "invalid_receipt") != 0)
                fail_msg("up_to \"%s\" should be invalid_receipt", values[i]);
        }
    }
}

static void test_refuses_up_to_from_the_future(void **state)
{
    char id[32], in[128];

    (void)state;
    /* Minted ten minutes from now. */
    id_at(NOW_MS + 10 * 60 * 1000, id, sizeof id);
    snprintf(in, sizeof in, "{\"type\":\"read\",\"up_to\":\"%s\"}", id);
    assert_string_equal(receipt_code(in), "invalid_receipt");
    /* One millisecond past the skew. */
    id_at(NOW_MS + PAYLOAD_RECEIPT_SKEW_MS + 1, id, sizeof id);
    snprintf(in, sizeof in, "{\"type\":\"delivered\",\"up_to\":\"%s\"}", id);
    assert_string_equal(receipt_code(in), "invalid_receipt");
    /* The same receipt is fine once the clock has caught up. */
    {
        json_t *o = receipt_ok_n(in, strlen(in), NOW_MS + 1);
        assert_receipt(o, "delivered", id, NOW_MS + 1);
        json_decref(o);
    }
    /* The largest id, far in the future. */
    assert_string_equal(
        receipt_code("{\"type\":\"read\",\"up_to\":\"9223372036854775807\"}"),
        "invalid_receipt");
}

/* ---- refused: not a UTF-8 JSON object, or too large ------------------- */

static void test_refuses_non_object(void **state)
{
    static const char *const values[] = {
        "[]",       "[{\"type\":\"read\",\"up_to\":\"42\"}]",
        "\"read\"", "42",
        "null",     "true",
    };

    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        if (strcmp(receipt_code(values[i]), "invalid_payload") != 0)
            fail_msg("%s should be invalid_payload", values[i]);
    }
}

static void test_refuses_not_json(void **state)
{
    (void)state;
    assert_string_equal(receipt_code("read"), "invalid_json");
    assert_string_equal(receipt_code("{\"type\":\"read\",\"up_to\":\"42\""),
                        "invalid_json");
    assert_string_equal(receipt_code("{\"type\":\"read\",\"up_to\":\"42\"} x"),
                        "invalid_json");
    assert_string_equal(receipt_code_n("", 0, NOW_MS), "invalid_json");
    /* Which type would count? */
    assert_string_equal(
        receipt_code("{\"type\":\"read\",\"type\":\"delivered\","
                     "\"up_to\":\"42\"}"),
        "invalid_json");
    assert_string_equal(
        receipt_code("{\"type\":\"read\",\"up_to\":\"42\",\"up_to\":\"43\"}"),
        "invalid_json");
    /* An escaped NUL would end the C string early: "read\0x" must not
     * pass for "read", nor "42\0x" for "42". */
    assert_string_equal(
        receipt_code("{\"type\":\"read\\u0000x\",\"up_to\":\"42\"}"),
        "invalid_json");
    assert_string_equal(
        receipt_code("{\"type\":\"read\",\"up_to\":\"42\\u0000x\"}"),
        "invalid_json");
}

static void test_refuses_invalid_utf8(void **state)
{
    (void)state;
    /* Overlong '/', a lone continuation byte, a surrogate, a truncated
     * sequence, a NUL byte: in an ignored field, the payload is still
     * refused whole. */
    assert_string_equal(
        RECEIPT_CODE_LIT(
            "{\"type\":\"read\",\"up_to\":\"42\",\"x\":\"\xc0\xaf\"}"),
        "invalid_utf8");
    assert_string_equal(
        RECEIPT_CODE_LIT("{\"type\":\"read\",\"up_to\":\"42\",\"x\":\"\x80\"}"),
        "invalid_utf8");
    assert_string_equal(
        RECEIPT_CODE_LIT("{\"type\":\"read\",\"up_to\":\"42\",\"x\":"
                         "\"\xed\xa0\x80\"}"),
        "invalid_utf8");
    assert_string_equal(
        RECEIPT_CODE_LIT(
            "{\"type\":\"read\",\"up_to\":\"42\",\"x\":\"\xe2\x82\"}"),
        "invalid_utf8");
    assert_string_equal(
        RECEIPT_CODE_LIT("{\"type\":\"read\",\"up_to\":\"42\"}\0"),
        "invalid_utf8");
    assert_string_equal(
        RECEIPT_CODE_LIT("{\"type\":\"re\xff\",\"up_to\":\"42\"}"),
        "invalid_utf8");
}

static void test_refuses_oversize(void **state)
{
    char in[RECEIPT_MAX + 1];
    char big[8192];
    static const char body[] = "{\"type\":\"read\",\"up_to\":\"42\"}";

    (void)state;
    /* A valid receipt one byte over the limit. */
    memset(in, ' ', sizeof in);
    memcpy(in, body, strlen(body));
    assert_string_equal(receipt_code_n(in, sizeof in, NOW_MS), "too_large");
    /* Size is checked first: a big payload of invalid bytes is too_large,
     * not invalid_utf8. */
    memset(big, 0xff, sizeof big);
    assert_string_equal(receipt_code_n(big, sizeof big, NOW_MS), "too_large");
}

static void test_failure_leaves_output_untouched(void **state)
{
    static const char in[] = "{\"type\":\"seen\",\"up_to\":\"42\"}";
    char sentinel = 0;
    char *out = &sentinel;
    size_t out_len = 12345;
    payload_error err;

    (void)state;
    assert_int_equal(payload_rewrite_receipt(in, strlen(in), CONV, ALICE,
                                             NOW_MS, &out, &out_len, &err),
                     -1);
    assert_ptr_equal(out, &sentinel);
    assert_int_equal(out_len, 12345);
    assert_string_equal(err.code, "invalid_receipt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_rewritten_exactly),
        cmocka_unit_test(test_delivered_rewritten_exactly),
        cmocka_unit_test(test_client_stamp_and_unknown_fields_replaced),
        cmocka_unit_test(test_smallest_and_largest_ids_accepted),
        cmocka_unit_test(test_up_to_within_skew_accepted),
        cmocka_unit_test(test_at_size_limit_accepted),

        cmocka_unit_test(test_refuses_other_or_missing_type),
        cmocka_unit_test(test_refuses_missing_up_to),
        cmocka_unit_test(test_refuses_up_to_not_a_string),
        cmocka_unit_test(test_refuses_up_to_not_a_decimal_id),
        cmocka_unit_test(test_refuses_up_to_from_the_future),

        cmocka_unit_test(test_refuses_non_object),
        cmocka_unit_test(test_refuses_not_json),
        cmocka_unit_test(test_refuses_invalid_utf8),
        cmocka_unit_test(test_refuses_oversize),
        cmocka_unit_test(test_failure_leaves_output_untouched),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
