/*
 * test_api_users.c - unit tests for me_update_parse
 * (httpapi/handlers_users.c), the validation of PATCH /v1/me: each field
 * alone and together; unknown fields (including the ones a user must not
 * set: role, username, id, tokens_valid_after, banned_until), nulls and
 * wrong types; display names at and past 64 characters, blank or with
 * control characters; a new password without the current one and the
 * other way round; passwords at their byte limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "httpapi/handlers_users.h"

/* The body of the last parse_text: u's strings point into it, so it lives
 * until the next call (or teardown). */
static json_t *last_body;

static int drop_last_body(void **state)
{
    (void)state;
    json_decref(last_body);
    last_body = NULL;
    return 0;
}

/* Parses text as the body; returns me_update_parse's result. */
static int parse_text(const char *text, me_update *u)
{
    const char *why = NULL;
    int rc;

    drop_last_body(NULL);
    last_body = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(last_body);
    rc = me_update_parse(last_body, u, &why);
    if (rc != 0)
        assert_non_null(why);
    return rc;
}

/* As parse_text, for a body built around one string value. */
static int parse_field(const char *key, const char *value, me_update *u)
{
    json_t *body = json_pack("{s:s}", key, value);
    const char *why = NULL;
    int rc;

    assert_non_null(body);
    rc = me_update_parse(body, u, &why);
    json_decref(body);
    return rc;
}

static void test_empty_changes_nothing(void **state)
{
    me_update u;

    (void)state;
    assert_int_equal(parse_text("{}", &u), 0);
    assert_null(u.display_name);
    assert_int_equal(u.presence_hidden, -1);
    assert_null(u.password);
    assert_null(u.current_password);
}

static void test_each_field(void **state)
{
    json_t *body;
    const char *why;
    me_update u;

    (void)state;
    body = json_pack("{s:s}", "display_name", "Zoë K.");
    assert_int_equal(me_update_parse(body, &u, &why), 0);
    assert_string_equal(u.display_name, "Zoë K.");
    assert_int_equal(u.display_name_len, strlen("Zoë K."));
    assert_int_equal(u.presence_hidden, -1);
    assert_null(u.password);
    json_decref(body);

    assert_int_equal(parse_text("{\"presence_hidden\":true}", &u), 0);
    assert_int_equal(u.presence_hidden, 1);
    assert_int_equal(parse_text("{\"presence_hidden\":false}", &u), 0);
    assert_int_equal(u.presence_hidden, 0);
    assert_null(u.display_name);

    assert_int_equal(parse_text("{\"password\":\"new-secret\","
                                "\"current_password\":\"old-secret\"}",
                                &u),
                     0);
    assert_string_equal(u.password, "new-secret");
    assert_int_equal(u.password_len, 10);
    assert_string_equal(u.current_password, "old-secret");
    assert_int_equal(u.current_password_len, 10);

    assert_int_equal(parse_text("{\"display_name\":\"A\",\"presence_hidden\":"
                                "true,\"password\":\"12345678\","
                                "\"current_password\":\"x\"}",
                                &u),
                     0);
    assert_string_equal(u.display_name, "A");
    assert_int_equal(u.presence_hidden, 1);
    assert_string_equal(u.password, "12345678");
}

static void test_unknown_fields(void **state)
{
    static const char *const bodies[] = {
        "{\"role\":\"admin\"}",
        "{\"username\":\"someone\"}",
        "{\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}",
        "{\"tokens_valid_after\":0}",
        "{\"banned_until\":null}",
        "{\"last_seen\":1}",
        "{\"password_hash\":\"$scrypt$\"}",
        "{\"Display_name\":\"x\"}",  /* keys are case-sensitive */
        "{\"display_name \":\"x\"}", /* trailing space */
        "{\"\":1}",
        /* one good field does not carry a bad one */
        "{\"display_name\":\"ok\",\"role\":\"admin\"}",
        "{\"presence_hidden\":true,\"x\":null}",
    };
    me_update u;

    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        if (parse_text(bodies[i], &u) != -1)
            fail_msg("accepted %s", bodies[i]);
    }
}

static void test_wrong_types_and_nulls(void **state)
{
    static const char *const bodies[] = {
        "{\"display_name\":null}",
        "{\"display_name\":5}",
        "{\"display_name\":[\"x\"]}",
        "{\"display_name\":true}",
        "{\"presence_hidden\":null}",
        "{\"presence_hidden\":\"true\"}",
        "{\"presence_hidden\":1}",
        "{\"presence_hidden\":0}",
        "{\"password\":null,\"current_password\":\"old-secret\"}",
        "{\"password\":12345678,\"current_password\":\"old-secret\"}",
        "{\"password\":\"new-secret\",\"current_password\":null}",
        "{\"password\":\"new-secret\",\"current_password\":1}",
        "{\"password\":\"new-secret\",\"current_password\":{}}",
    };
    me_update u;

    (void)state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        if (parse_text(bodies[i], &u) != -1)
            fail_msg("accepted %s", bodies[i]);
    }
}

static void test_display_names(void **state)
{
    char buf[4 * 65 + 1];
    me_update u;

    (void)state;
    memset(buf, 'n', 64);
    buf[64] = '\0';
    assert_int_equal(parse_field("display_name", buf, &u), 0);
    buf[64] = 'n';
    buf[65] = '\0';
    assert_int_equal(parse_field("display_name", buf, &u), -1);
    /* characters, not bytes: 64 four-byte characters */
    for (int i = 0; i < 65; i++)
        memcpy(buf + 4 * i, "\xf0\x9f\x98\x80", 4);
    buf[4 * 64] = '\0';
    assert_int_equal(parse_field("display_name", buf, &u), 0);
    buf[4 * 64] = '\xf0';
    buf[4 * 65] = '\0';
    assert_int_equal(parse_field("display_name", buf, &u), -1);
    assert_int_equal(parse_field("display_name", "", &u), -1);
    assert_int_equal(parse_field("display_name", "   ", &u), -1);
    assert_int_equal(parse_field("display_name", "tab\there", &u), -1);
    assert_int_equal(parse_field("display_name", "line\nbreak", &u), -1);
    assert_int_equal(parse_field("display_name", "del\x7f", &u), -1);
    assert_int_equal(parse_field("display_name", "c1\xc2\x85", &u), -1);
    /* "\u0000" never reaches here: jansson refuses it without
     * JSON_ALLOW_NUL, as request_json_object does */
    assert_null(json_loads("{\"display_name\":\"a\\u0000b\"}", 0, NULL));
}

static void test_passwords(void **state)
{
    char *big = malloc(1026);
    json_t *body;
    const char *why;
    me_update u;

    (void)state;
    assert_non_null(big);
    /* a new password needs the current one, and the current one alone
     * changes nothing: both refused */
    assert_int_equal(parse_text("{\"password\":\"new-secret\"}", &u), -1);
    assert_int_equal(parse_text("{\"current_password\":\"old-secret\"}", &u),
                     -1);
    assert_int_equal(
        parse_text("{\"display_name\":\"x\",\"password\":\"new-secret\"}", &u),
        -1);
    /* new password length: 8..1024 bytes */
    assert_int_equal(
        parse_text("{\"password\":\"1234567\",\"current_password\":\"x\"}", &u),
        -1);
    assert_int_equal(
        parse_text("{\"password\":\"12345678\",\"current_password\":\"x\"}",
                   &u),
        0);
    memset(big, 'p', 1025);
    big[1024] = '\0';
    body = json_pack("{s:s,s:s}", "password", big, "current_password", "x");
    assert_int_equal(me_update_parse(body, &u, &why), 0);
    json_decref(body);
    big[1024] = 'p';
    big[1025] = '\0';
    body = json_pack("{s:s,s:s}", "password", big, "current_password", "x");
    assert_int_equal(me_update_parse(body, &u, &why), -1);
    json_decref(body);
    /* the current password's shape is not judged here: a wrong one is a
     * 403 after checking, not a 400 that tells it apart */
    assert_int_equal(
        parse_text("{\"password\":\"12345678\",\"current_password\":\"\"}", &u),
        0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_empty_changes_nothing, drop_last_body),
        cmocka_unit_test_teardown(test_each_field, drop_last_body),
        cmocka_unit_test_teardown(test_unknown_fields, drop_last_body),
        cmocka_unit_test_teardown(test_wrong_types_and_nulls, drop_last_body),
        cmocka_unit_test_teardown(test_display_names, drop_last_body),
        cmocka_unit_test_teardown(test_passwords, drop_last_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
