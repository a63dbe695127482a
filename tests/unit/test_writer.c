/*
 * test_writer.c - unit tests for the writer's pure parts (plugin/writer_rows.c,
 * declared in plugin/writer.h): reading the columns of a rewritten message
 * (strings decoded as jansson decodes them, extra holding every other
 * member, records the fast path must leave to the server refused), the
 * binary COPY encoding of a row, and the ack template (checked by parsing
 * its output back with jansson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/writer.h"

#define CONV "11111111-2222-4333-8444-555555555555"
#define FROM "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define HEAD                                                                   \
    "{\"id\":\"123456789\",\"conv\":\"" CONV "\",\"from\":\"" FROM             \
    "\",\"ts\":1700000000123,\"txn\":\"t-1\",\"type\":\"text\""

typedef struct parsed {
    writer_message m;
    char scratch[4096];
} parsed;

static int parse(const char *json, parsed *p)
{
    assert_true(strlen(json) + 2 <= sizeof p->scratch);
    return writer_message_parse(json, strlen(json), p->scratch, &p->m);
}

static void assert_span(const char *got, size_t len, const char *want)
{
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
}

static void test_reads_every_column(void **state)
{
    parsed p;
    uuid_bin conv, from;

    (void)state;
    assert_int_equal(parse(HEAD ",\"body\":\"hi\"}", &p), 0);
    assert_int_equal(p.m.id, 123456789);
    assert_int_equal(p.m.ts_ms, 1700000000123LL);
    assert_int_equal(uuid_parse_n(CONV, UUID_STR_LEN, &conv), 0);
    assert_int_equal(uuid_parse_n(FROM, UUID_STR_LEN, &from), 0);
    assert_memory_equal(p.m.conv.b, conv.b, 16);
    assert_memory_equal(p.m.from.b, from.b, 16);
    assert_span(p.m.txn, p.m.txn_len, "t-1");
    assert_span(p.m.type, p.m.type_len, "text");
    assert_span(p.m.body, p.m.body_len, "hi");
    assert_span(p.m.extra, p.m.extra_len, "{}");
}

static void test_extra_holds_the_other_members(void **state)
{
    parsed p;
    const char *json =
        HEAD ",\"reply_to\":\"42\",\"body\":\"x\","
             "\"attachments\":[{\"media\":\"m1\"},{\"media\":\"a,}\\\"b\"}]}";
    json_t *extra, *want;

    (void)state;
    assert_int_equal(parse(json, &p), 0);
    extra = json_loadb(p.m.extra, p.m.extra_len, 0, NULL);
    want =
        json_loads("{\"reply_to\":\"42\",\"attachments\":[{\"media\":\"m1\"},"
                   "{\"media\":\"a,}\\\"b\"}]}",
                   0, NULL);
    assert_non_null(extra);
    assert_true(json_equal(extra, want));
    json_decref(extra);
    json_decref(want);
    assert_span(p.m.body, p.m.body_len, "x");
}

static void test_body_missing_or_null_is_null(void **state)
{
    parsed p;

    (void)state;
    assert_int_equal(parse(HEAD ",\"e2e\":{\"c\":\"zz\"}}", &p), 0);
    assert_null(p.m.body);
    assert_span(p.m.extra, p.m.extra_len, "{\"e2e\":{\"c\":\"zz\"}}");
    assert_int_equal(parse(HEAD ",\"body\":null}", &p), 0);
    assert_null(p.m.body);
}

/* Strings decode exactly as jansson decodes them. */
static void test_strings_decode_like_jansson(void **state)
{
    static const char *const bodies[] = {
        "plain",
        "quote \\\" backslash \\\\ slash \\/",
        "controls \\b\\f\\n\\r\\t",
        "latin \\u00e9 and raw \xc3\xa9",
        "cjk \\u4e2d\\u6587",
        "astral \\ud83d\\ude00 pair",
        "",
    };
    char json[512];
    parsed p;

    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        snprintf(json, sizeof json, HEAD ",\"body\":\"%s\"}", bodies[i]);
        json_t *doc = json_loads(json, 0, NULL);
        assert_non_null(doc);
        const char *want = json_string_value(json_object_get(doc, "body"));
        assert_int_equal(parse(json, &p), 0);
        assert_span(p.m.body, p.m.body_len, want);
        json_decref(doc);
    }
}

static void test_last_duplicate_key_wins(void **state)
{
    parsed p;

    (void)state;
    assert_int_equal(parse(HEAD ",\"body\":\"a\",\"body\":\"b\"}", &p), 0);
    assert_span(p.m.body, p.m.body_len, "b");
}

static void test_id_and_ts_as_number_or_string(void **state)
{
    parsed p;

    (void)state;
    assert_int_equal(parse("{\"id\":77,\"conv\":\"" CONV "\",\"from\":\"" FROM
                           "\",\"ts\":\"5\",\"txn\":\"a\",\"type\":\"text\"}",
                           &p),
                     0);
    assert_int_equal(p.m.id, 77);
    assert_int_equal(p.m.ts_ms, 5);
}

/* What the fast path must leave to the server's JSON statement. */
static void test_refuses_what_it_cannot_store_as_is(void **state)
{
    static const char *const bad[] = {
        "[]",
        "not json",
        HEAD ",\"body\":\"nul \\u0000 inside\"}",
        HEAD ",\"body\":\"lone \\ud83d surrogate\"}",
        HEAD ",\"body\":\"lone \\ude00 low\"}",
        HEAD ",\"body\":\"bad \\x escape\"}",
        HEAD ",\"body\":\"raw\ncontrol\"}",
        HEAD ",\"body\":5}",
        HEAD ",\"body\":\"unterminated}",
        HEAD ",\"body\":\"x\"} trailing",
        HEAD ",\"b\\u006fdy\":\"escaped key\"}",
        HEAD "",
        "{\"conv\":\"" CONV "\",\"from\":\"" FROM
        "\",\"ts\":1,\"txn\":\"a\",\"type\":\"text\"}",
        "{\"id\":\"1\",\"conv\":\"" CONV
        "\",\"from\":\"AAAAAAAA-BBBB-4CCC-8DDD-"
        "EEEEEEEEEEEE\",\"ts\":1,\"txn\":\"a\",\"type\":\"text\"}",
        "{\"id\":\"1\",\"conv\":\"" CONV "\",\"from\":\"" FROM
        "\",\"ts\":1.5,\"txn\":\"a\",\"type\":\"text\"}",
        "{\"id\":\"1\",\"conv\":\"" CONV "\",\"from\":\"" FROM
        "\",\"ts\":1,\"txn\":7,\"type\":\"text\"}",
        "{\"id\":\"99999999999999999999\",\"conv\":\"" CONV
        "\",\"from\":\"" FROM "\",\"ts\":1,\"txn\":\"a\",\"type\":\"text\"}",
    };
    parsed p;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], &p) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
}

/* Every prefix of a message, and the message with each byte replaced by
 * characters that matter to the reader, copied into buffers of exactly
 * their size (so a sanitizer build catches any read past the end): the
 * reader answers without reading outside them, and what it accepts fits
 * its scratch. */
static void test_prefixes_and_mutations_stay_in_bounds(void **state)
{
    static const char special[] = "\"\\{}[]:,u0 \x01";
    const char *json = HEAD ",\"body\":\"a\\u00e9\\ud83d\\ude00\\n\","
                            "\"x\":{\"y\":[1,\"}\"]}}";
    size_t len = strlen(json);
    writer_message m;

    (void)state;
    for (size_t cut = 0; cut <= len; cut++) {
        for (size_t pos = 0; pos <= cut; pos++) {
            for (size_t k = 0; k < (pos < cut ? sizeof special - 1 : 1); k++) {
                char *in = malloc(cut ? cut : 1);
                char *scratch = malloc(cut + 2);
                assert_non_null(in);
                assert_non_null(scratch);
                memcpy(in, json, cut);
                if (pos < cut)
                    in[pos] = special[k];
                if (writer_message_parse(in, cut, scratch, &m) == 0) {
                    assert_true(m.extra >= scratch &&
                                m.extra + m.extra_len <= scratch + cut + 2);
                    assert_true(m.txn >= scratch &&
                                m.txn + m.txn_len <= scratch + cut + 2);
                    assert_true(m.type >= scratch &&
                                m.type + m.type_len <= scratch + cut + 2);
                    assert_true(m.body == NULL ||
                                (m.body >= scratch &&
                                 m.body + m.body_len <= scratch + cut + 2));
                }
                free(in);
                free(scratch);
            }
        }
    }
}

static uint64_t be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads field i's length and moves *p past it. */
static const unsigned char *field(const unsigned char **p, int32_t *len)
{
    const unsigned char *data;

    *len = (int32_t)be(*p, 4);
    data = *p + 4;
    *p = data + (*len > 0 ? *len : 0);
    return data;
}

static void test_copy_row_layout(void **state)
{
    writer_buf b = {0};
    parsed p;
    size_t seq_at;
    const unsigned char *q;
    int32_t len;

    (void)state;
    assert_int_equal(parse("{\"id\":\"258\",\"conv\":\"" CONV
                           "\",\"from\":\"" FROM
                           "\",\"ts\":946684800001,\"txn\":\"tx\","
                           "\"type\":\"e2e\",\"e2e\":1}",
                           &p),
                     0);
    assert_int_equal(writer_copy_begin(&b), 0);
    assert_int_equal(b.len, 19);
    assert_memory_equal(b.data, "PGCOPY\n\377\r\n\0", 11);
    assert_int_equal(writer_copy_row(&b, &p.m, &seq_at), 0);
    writer_copy_set_seq(&b, seq_at, 0x0102030405060708LL);
    assert_int_equal(writer_copy_end(&b), 0);

    q = (const unsigned char *)b.data + 19;
    assert_int_equal(be(q, 2), 9);
    q += 2;
    assert_int_equal(be(field(&q, &len), 8), 258);
    assert_int_equal(len, 8);
    assert_memory_equal(field(&q, &len), p.m.conv.b, 16);
    assert_memory_equal(field(&q, &len), p.m.from.b, 16);
    assert_memory_equal(field(&q, &len), "tx", 2);
    assert_int_equal(len, 2);
    assert_memory_equal(field(&q, &len), "e2e", 3);
    field(&q, &len);
    assert_int_equal(len, -1); /* body: NULL */
    const unsigned char *extra = field(&q, &len);
    assert_int_equal(len, 1 + (int32_t)strlen("{\"e2e\":1}"));
    assert_int_equal(extra[0], 1);
    assert_memory_equal(extra + 1, "{\"e2e\":1}", len - 1);
    assert_int_equal(be(field(&q, &len), 8), 1000); /* 1 ms after 2000 */
    assert_int_equal(be(field(&q, &len), 8), 0x0102030405060708ULL);
    assert_int_equal(be(q, 2), 0xffff);
    assert_int_equal((size_t)(q + 2 - (const unsigned char *)b.data), b.len);
    writer_buf_free(&b);
    writer_buf_free(&b); /* twice is harmless */
}

static void test_ack_single(void **state)
{
    writer_ack_item it = {CONV, "t-1", "123"};
    size_t len;
    char *text = writer_ack_format(&it, 1, &len);

    (void)state;
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_string_equal(text, "{\"type\":\"ack\",\"conv\":\"" CONV
                              "\",\"txn\":\"t-1\",\"id\":\"123\"}");
    free(text);
}

static void test_ack_items_escaped(void **state)
{
    writer_ack_item its[3] = {
        {CONV, "a", "1"},
        {CONV, "quote\" back\\ ctl\x01\n", "2"},
        {CONV, "\xc3\xa9t\xc3\xa9", "3"},
    };
    size_t len;
    char *text = writer_ack_format(its, 3, &len);
    json_error_t err;
    json_t *doc, *items;

    (void)state;
    assert_non_null(text);
    doc = json_loadb(text, len, 0, &err);
    if (doc == NULL)
        fail_msg("not JSON: %s (%s)", text, err.text);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "ack");
    items = json_object_get(doc, "items");
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *item = json_array_get(items, i);
        assert_int_equal(json_object_size(item), 3);
        assert_string_equal(json_string_value(json_object_get(item, "conv")),
                            its[i].conv);
        assert_string_equal(json_string_value(json_object_get(item, "txn")),
                            its[i].txn);
        assert_string_equal(json_string_value(json_object_get(item, "id")),
                            its[i].id);
    }
    json_decref(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_every_column),
        cmocka_unit_test(test_extra_holds_the_other_members),
        cmocka_unit_test(test_body_missing_or_null_is_null),
        cmocka_unit_test(test_strings_decode_like_jansson),
        cmocka_unit_test(test_last_duplicate_key_wins),
        cmocka_unit_test(test_id_and_ts_as_number_or_string),
        cmocka_unit_test(test_refuses_what_it_cannot_store_as_is),
        cmocka_unit_test(test_prefixes_and_mutations_stay_in_bounds),
        cmocka_unit_test(test_copy_row_layout),
        cmocka_unit_test(test_ack_single),
        cmocka_unit_test(test_ack_items_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
