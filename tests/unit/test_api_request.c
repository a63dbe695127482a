/*
 * test_api_request.c - unit tests for httpapi/request.c and
 * httpapi/respond.c: percent-decoding of query parameters (bad escapes,
 * %00, truncation), parameter lookup with duplicates, the Authorization
 * header's bearer token, the body cap, JSON body parsing (malformed,
 * non-object, duplicate keys, \u0000) and the error envelope.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "httpapi/request.h"
#include "httpapi/respond.h"

static int decode(const char *in, char *out)
{
    size_t n = 0;
    int rc = percent_decode(in, strlen(in), out, &n);

    if (rc == 0)
        assert_int_equal(n, strlen(out));
    return rc;
}

static void test_percent_decode(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(decode("plain", out), 0);
    assert_string_equal(out, "plain");
    assert_int_equal(decode("", out), 0);
    assert_string_equal(out, "");
    assert_int_equal(decode("%31%32%33", out), 0);
    assert_string_equal(out, "123");
    assert_int_equal(decode("a%2Fb%2fc", out), 0);
    assert_string_equal(out, "a/b/c");
    assert_int_equal(decode("%C3%A9", out), 0);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(decode("%25", out), 0);
    assert_string_equal(out, "%");
    assert_int_equal(decode("%2525", out), 0); /* decoded once only */
    assert_string_equal(out, "%25");
    /* '+' is libmicrohttpd's business (it turns it into a space) */
    assert_int_equal(decode("a+b", out), 0);
    assert_string_equal(out, "a+b");
}

static void test_percent_decode_refuses(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    assert_int_equal(decode("%00", out), -1);
    assert_int_equal(decode("abc%00def", out), -1);
    assert_int_equal(decode("%", out), -1);
    assert_int_equal(decode("%4", out), -1);
    assert_int_equal(decode("abc%", out), -1);
    assert_int_equal(decode("%zz", out), -1);
    assert_int_equal(decode("%g1", out), -1);
    assert_int_equal(decode("%1g", out), -1);
    assert_int_equal(decode("% 1", out), -1);
    assert_int_equal(decode("%-1", out), -1);
    /* a real NUL inside the given length */
    assert_int_equal(percent_decode("ab\0cd", 5, out, &n), -1);
    /* an escape cut by the length */
    assert_int_equal(percent_decode("%41", 2, out, &n), -1);
}

static void test_query_param_get(void **state)
{
    query_param p[] = {
        {"limit", "5"}, {"before", NULL}, {"x", "1"}, {"x", "2"}, {"", "v"},
    };
    bool dup;

    (void)state;
    assert_string_equal(query_param_get(p, 5, "limit", &dup), "5");
    assert_false(dup);
    assert_string_equal(query_param_get(p, 5, "before", &dup), "");
    assert_false(dup);
    assert_non_null(query_param_get(p, 5, "x", &dup));
    assert_true(dup);
    assert_null(query_param_get(p, 5, "after", &dup));
    assert_false(dup);
    assert_null(query_param_get(p, 5, "LIMIT", &dup));
    assert_string_equal(query_param_get(p, 5, "", &dup), "v");
    assert_null(query_param_get(p, 0, "limit", &dup));
}

static void expect_bearer(const char *header, const char *token)
{
    const char *tok = NULL;
    size_t len = 0;

    assert_int_equal(bearer_token_find(header, &tok, &len), 0);
    assert_int_equal(len, strlen(token));
    assert_memory_equal(tok, token, len);
}

static void expect_no_bearer(const char *header)
{
    const char *tok;
    size_t len;

    assert_int_equal(bearer_token_find(header, &tok, &len), -1);
}

static void test_bearer(void **state)
{
    (void)state;
    expect_bearer("Bearer abc.def.ghi", "abc.def.ghi");
    expect_bearer("bearer abc", "abc");
    expect_bearer("BEARER abc", "abc");
    expect_bearer("Bearer    a-b_c~d+e/f=", "a-b_c~d+e/f=");
    expect_no_bearer(NULL);
    expect_no_bearer("");
    expect_no_bearer("Bearer");
    expect_no_bearer("Bearer ");
    expect_no_bearer("Bearer  ");
    expect_no_bearer("Bearerabc");
    expect_no_bearer("Bearer\tabc");
    expect_no_bearer("Basic dXNlcjpwYXNz");
    expect_no_bearer("Bearer abc def");
    expect_no_bearer("Bearer abc ");
    expect_no_bearer("Bearer abc,def");
    expect_no_bearer("Bearer ab\"c");
    expect_no_bearer(" Bearer abc");
    expect_no_bearer("Bearer ab\xc3\xa9");
}

static void test_body_cap(void **state)
{
    api_request r;
    char *chunk = malloc(REQUEST_BODY_MAX);

    (void)state;
    assert_non_null(chunk);
    memset(&r, 0, sizeof r);
    memset(chunk, 'a', REQUEST_BODY_MAX);
    assert_int_equal(request_body_append(&r, chunk, 10), 0);
    assert_int_equal(r.body_len, 10);
    assert_int_equal(r.body[10], '\0');
    assert_int_equal(request_body_append(&r, chunk, REQUEST_BODY_MAX - 10), 0);
    assert_int_equal(r.body_len, REQUEST_BODY_MAX);
    assert_false(r.body_too_large);
    /* One byte past the cap: refused, and the body is dropped. */
    assert_int_equal(request_body_append(&r, chunk, 1), -1);
    assert_true(r.body_too_large);
    assert_null(r.body);
    assert_int_equal(r.body_len, 0);
    /* Nothing more is kept afterwards. */
    assert_int_equal(request_body_append(&r, chunk, 1), -1);
    assert_null(r.body);
    /* A single oversize chunk at once. */
    memset(&r, 0, sizeof r);
    assert_int_equal(request_body_append(&r, chunk, REQUEST_BODY_MAX), 0);
    free(r.body);
    memset(&r, 0, sizeof r);
    assert_int_equal(request_body_append(&r, chunk, (size_t)-1), -1);
    assert_true(r.body_too_large);
    free(chunk);
}

/* Parses body as request_json_object would and returns the object or the
 * error code left in the reply. */
static json_t *parse(const char *body, size_t len, bool empty_ok,
                     const char **code, unsigned *status)
{
    static char saved_code[32];
    api_request r;
    json_t *obj;

    memset(&r, 0, sizeof r);
    r.body = (char *)body;
    r.body_len = len;
    obj = request_json_object(&r, empty_ok);
    *status = r.reply.status;
    *code = "";
    if (r.reply.body != NULL) {
        json_t *c =
            json_object_get(json_object_get(r.reply.body, "error"), "code");
        strcpy(saved_code, json_string_value(c));
        *code = saved_code;
        assert_string_not_equal(
            json_string_value(json_object_get(
                json_object_get(r.reply.body, "error"), "message")),
            "");
    }
    reply_clear(&r.reply);
    return obj;
}

#define PARSE(lit, empty_ok) parse(lit, sizeof(lit) - 1, empty_ok, &code, &st)

static void test_json_body(void **state)
{
    const char *code;
    unsigned st;
    json_t *o;

    (void)state;
    o = PARSE("{\"a\":1}", false);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "a")), 1);
    json_decref(o);

    o = PARSE("", true);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);

    assert_null(PARSE("", false));
    assert_int_equal(st, 400);
    assert_string_equal(code, "invalid_json");

    assert_null(PARSE("{\"a\":", false));
    assert_string_equal(code, "invalid_json");
    assert_null(PARSE("not json", false));
    assert_string_equal(code, "invalid_json");
    assert_null(PARSE("{\"a\":1}{\"b\":2}", false));
    assert_string_equal(code, "invalid_json");
    assert_null(PARSE("{\"a\":1,\"a\":2}", false));
    assert_string_equal(code, "invalid_json");
    assert_null(PARSE("{\"a\":\"x\\u0000y\"}", false));
    assert_string_equal(code, "invalid_json");
    assert_null(PARSE("{\"a\":\"\xff\"}", false));
    assert_string_equal(code, "invalid_json");
    /* a raw NUL inside the body */
    assert_null(PARSE("{\"a\":1}\0", false));
    assert_string_equal(code, "invalid_json");

    assert_null(PARSE("[1,2]", false));
    assert_int_equal(st, 400);
    assert_string_equal(code, "bad_request");
    assert_null(PARSE("\"str\"", false));
    assert_string_equal(code, "bad_request");
    assert_null(PARSE("null", false));
    assert_string_equal(code, "bad_request");
}

static void test_json_field_string(void **state)
{
    json_t *o = json_pack("{s:s,s:i,s:n,s:s%}", "s", "val", "i", 3, "n", "e",
                          "", (size_t)0);
    const char *out = NULL;
    size_t len = 99;

    (void)state;
    assert_int_equal(json_field_string(o, "s", &out, &len), 1);
    assert_string_equal(out, "val");
    assert_int_equal(len, 3);
    assert_int_equal(json_field_string(o, "i", &out, NULL), -1);
    assert_int_equal(json_field_string(o, "n", &out, NULL), 0);
    assert_int_equal(json_field_string(o, "missing", &out, NULL), 0);
    assert_int_equal(json_field_string(o, "e", &out, &len), 1);
    assert_int_equal(len, 0);
    json_decref(o);
}

static void test_error_envelope(void **state)
{
    api_reply r;
    json_t *err;

    (void)state;
    memset(&r, 0, sizeof r);
    reply_error(&r, 404, "not_found", "not found");
    assert_int_equal(r.status, 404);
    err = json_object_get(r.body, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")),
                        "not_found");
    assert_string_equal(json_string_value(json_object_get(err, "message")),
                        "not found");
    assert_int_equal(json_object_size(r.body), 1);
    assert_int_equal(json_object_size(err), 2);
    /* A later reply replaces the earlier one without leaking it. */
    reply_json_new(&r, 200, json_object());
    assert_int_equal(r.status, 200);
    /* A failed allocation upstream becomes a 500. */
    reply_json_new(&r, 201, NULL);
    assert_int_equal(r.status, 500);
    reply_empty(&r, 204);
    assert_null(r.body);
    reply_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_percent_decode_refuses),
        cmocka_unit_test(test_query_param_get),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_json_field_string),
        cmocka_unit_test(test_error_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
