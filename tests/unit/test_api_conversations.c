/*
 * test_api_conversations.c - unit tests for conv_create_parse
 * (httpapi/handlers_conversations.c): kinds, titles, member lists with
 * duplicates, the creator, malformed or upper-case ids, non-strings, the
 * 1000-member cap, and the direct_key of a pair (sorted, so both sides get
 * the same one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "httpapi/handlers_conversations.h"

#define ME "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define U1 "0f8fad5b-d9cb-469f-a165-70867728950e"
#define U2 "ffffffff-d9cb-469f-a165-70867728950e"

static int parse_text(const char *text, const char *me, conv_create *out,
                      const char **why)
{
    json_t *body = json_loads(text, 0, NULL);
    int rc;

    assert_non_null(body);
    rc = conv_create_parse(body, me, out, why);
    /* the title points into the body: keep a copy alive for the test */
    if (rc == 0 && out->title != NULL) {
        static char title[512];
        snprintf(title, sizeof title, "%s", out->title);
        out->title = title;
    }
    json_decref(body);
    return rc;
}

static void expect_bad(const char *text)
{
    conv_create c;
    const char *why = NULL;

    if (parse_text(text, ME, &c, &why) != -1)
        fail_msg("accepted: %s", text);
    assert_non_null(why);
    conv_create_clear(&c);
}

static void test_direct(void **state)
{
    conv_create c;
    const char *why = NULL;

    (void)state;
    assert_int_equal(parse_text("{\"kind\":\"direct\",\"members\":[\"" U1
                                "\"]}",
                                ME, &c, &why),
                     0);
    assert_int_equal(c.kind, CONV_DIRECT);
    assert_null(c.title);
    assert_int_equal(c.n_members, 1);
    assert_string_equal(c.members[0], U1);
    assert_string_equal(c.direct_key, U1 ":" ME);
    conv_create_clear(&c);

    /* the other side gets the same key */
    assert_int_equal(parse_text("{\"kind\":\"direct\",\"members\":[\"" ME
                                "\"]}",
                                U1, &c, &why),
                     0);
    assert_string_equal(c.direct_key, U1 ":" ME);
    conv_create_clear(&c);

    /* the same user twice is still one other member */
    assert_int_equal(parse_text("{\"kind\":\"direct\",\"members\":[\"" U2
                                "\",\"" U2 "\"]}",
                                ME, &c, &why),
                     0);
    assert_int_equal(c.n_members, 1);
    assert_string_equal(c.direct_key, ME ":" U2);
    conv_create_clear(&c);
}

static void test_direct_refusals(void **state)
{
    (void)state;
    expect_bad("{\"kind\":\"direct\"}");
    expect_bad("{\"kind\":\"direct\",\"members\":[]}");
    expect_bad("{\"kind\":\"direct\",\"members\":[\"" ME "\"]}");
    expect_bad("{\"kind\":\"direct\",\"members\":[\"" U1 "\",\"" ME "\"]}");
    expect_bad("{\"kind\":\"direct\",\"members\":[\"" U1 "\",\"" U2 "\"]}");
    expect_bad("{\"kind\":\"direct\",\"title\":\"t\",\"members\":[\"" U1
               "\"]}");
}

static void test_group(void **state)
{
    conv_create c;
    const char *why = NULL;

    (void)state;
    assert_int_equal(parse_text("{\"kind\":\"group\",\"title\":\"Team\","
                                "\"members\":[\"" U2 "\",\"" U1 "\",\"" ME
                                "\",\"" U2 "\"]}",
                                ME, &c, &why),
                     0);
    assert_int_equal(c.kind, CONV_GROUP);
    assert_string_equal(c.title, "Team");
    /* sorted, deduplicated, without the creator */
    assert_int_equal(c.n_members, 2);
    assert_string_equal(c.members[0], U1);
    assert_string_equal(c.members[1], U2);
    assert_string_equal(c.direct_key, "");
    conv_create_clear(&c);

    /* no members at all, null title: a group of one */
    assert_int_equal(
        parse_text("{\"kind\":\"channel\",\"title\":null}", ME, &c, &why), 0);
    assert_int_equal(c.kind, CONV_CHANNEL);
    assert_null(c.title);
    assert_int_equal(c.n_members, 0);
    conv_create_clear(&c);

    /* only the creator */
    assert_int_equal(parse_text("{\"kind\":\"group\",\"members\":[\"" ME "\"]}",
                                ME, &c, &why),
                     0);
    assert_int_equal(c.n_members, 0);
    conv_create_clear(&c);
}

static void test_refusals(void **state)
{
    char title[200];
    char text[400];

    (void)state;
    expect_bad("{}");
    expect_bad("{\"kind\":\"Group\"}");
    expect_bad("{\"kind\":\"\"}");
    expect_bad("{\"kind\":1}");
    expect_bad("{\"kind\":null}");
    expect_bad("{\"kind\":\"group\",\"members\":\"" U1 "\"}");
    expect_bad("{\"kind\":\"group\",\"members\":{}}");
    expect_bad("{\"kind\":\"group\",\"members\":[1]}");
    expect_bad("{\"kind\":\"group\",\"members\":[null]}");
    expect_bad("{\"kind\":\"group\",\"members\":[[\"" U1 "\"]]}");
    expect_bad("{\"kind\":\"group\",\"members\":[\"not-a-uuid\"]}");
    expect_bad("{\"kind\":\"group\",\"members\":["
               "\"0F8FAD5B-D9CB-469F-A165-70867728950E\"]}");
    expect_bad("{\"kind\":\"group\",\"members\":[\"" U1 " \"]}");
    expect_bad("{\"kind\":\"group\",\"members\":[\"\"]}");
    expect_bad("{\"kind\":\"group\",\"title\":\"\"}");
    expect_bad("{\"kind\":\"group\",\"title\":\"   \"}");
    expect_bad("{\"kind\":\"group\",\"title\":\"a\\nb\"}");
    expect_bad("{\"kind\":\"group\",\"title\":5}");
    /* 129 characters */
    memset(title, 'x', 129);
    title[129] = '\0';
    snprintf(text, sizeof text, "{\"kind\":\"group\",\"title\":\"%s\"}", title);
    expect_bad(text);
    title[128] = '\0';
    snprintf(text, sizeof text, "{\"kind\":\"group\",\"title\":\"%s\"}", title);
    {
        conv_create c;
        const char *why;
        assert_int_equal(parse_text(text, ME, &c, &why), 0);
        conv_create_clear(&c);
    }
}

static void test_member_cap(void **state)
{
    json_t *body = json_pack("{s:s}", "kind", "group"), *list = json_array();
    conv_create c;
    const char *why = NULL;
    char id[UUID_STR_LEN + 1];

    (void)state;
    for (unsigned i = 0; i < CONV_CREATE_MAX_MEMBERS; i++) {
        snprintf(id, sizeof id, "%08x-0000-4000-8000-000000000000", i);
        json_array_append_new(list, json_string(id));
    }
    json_object_set_new(body, "members", list);
    assert_int_equal(conv_create_parse(body, ME, &c, &why), 0);
    assert_int_equal(c.n_members, CONV_CREATE_MAX_MEMBERS);
    conv_create_clear(&c);
    /* one more is refused, even as a duplicate */
    json_array_append_new(list, json_string(id));
    assert_int_equal(conv_create_parse(body, ME, &c, &why), -1);
    conv_create_clear(&c);
    json_decref(body);
    conv_create_clear(NULL);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(conv_kind_name(CONV_DIRECT), "direct");
    assert_string_equal(conv_kind_name(CONV_GROUP), "group");
    assert_string_equal(conv_kind_name(CONV_CHANNEL), "channel");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct),
        cmocka_unit_test(test_direct_refusals),
        cmocka_unit_test(test_group),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_member_cap),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
