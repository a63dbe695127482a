/*
 * test_api_validate.c - unit tests for httpapi/validate.c and
 * httpapi/permissions.c: usernames, device names, passwords, display names
 * and titles at and beyond their limits, with NULs, non-ASCII look-alikes,
 * control characters and broken UTF-8; role names; and the membership
 * verdicts for every (actor, target) pair.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "httpapi/permissions.h"
#include "httpapi/validate.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_username(void **state)
{
    char buf[64];

    (void)state;
    assert_true(username_valid(S("abc")));
    assert_true(username_valid(S("Alice_B.c-9")));
    assert_true(username_valid(S("...")));
    memset(buf, 'x', sizeof buf);
    assert_true(username_valid(buf, 32));
    assert_false(username_valid(buf, 33));
    assert_false(username_valid(S("ab")));
    assert_false(username_valid(S("")));
    assert_false(username_valid(NULL, 5));
    assert_false(username_valid(S("has space")));
    assert_false(username_valid(S("semi;colon")));
    assert_false(username_valid(S("sl/ash")));
    assert_false(username_valid(S("percent%41")));
    assert_false(username_valid(S("at@host")));
    /* an embedded NUL is refused, not a silent truncation */
    assert_false(username_valid(S("abc\0def")));
    /* non-ASCII letters and look-alikes */
    assert_false(username_valid(S("caf\xc3\xa9")));
    assert_false(username_valid(S("\xd0\xb0lice"))); /* Cyrillic a */
    assert_false(username_valid(S("abc\n")));
}

static void test_device(void **state)
{
    char buf[80];

    (void)state;
    assert_true(device_valid(S("default")));
    assert_true(device_valid(S("a")));
    assert_true(device_valid(S("phone-2_X")));
    memset(buf, 'd', sizeof buf);
    assert_true(device_valid(buf, 64));
    assert_false(device_valid(buf, 65));
    assert_false(device_valid(S("")));
    assert_false(device_valid(S("dot.ted"))); /* dots are for usernames */
    assert_false(device_valid(S("co:lon")));  /* would split a client id */
    assert_false(device_valid(S("sp ace")));
    assert_false(device_valid(S("nul\0")));
    assert_false(device_valid(S("slash/")));
    assert_false(device_valid(S("#")));
    assert_false(device_valid(S("+")));
}

static void test_password(void **state)
{
    char buf[1100];

    (void)state;
    memset(buf, 'p', sizeof buf);
    assert_true(password_valid(buf, 8));
    assert_true(password_valid(buf, 1024));
    assert_false(password_valid(buf, 7));
    assert_false(password_valid(buf, 1025));
    assert_false(password_valid(buf, 0));
    assert_false(password_valid(NULL, 10));
    buf[3] = '\0';
    assert_false(password_valid(buf, 10));
    /* anything else goes: spaces, UTF-8, punctuation */
    assert_true(password_valid(S("pass word \xf0\x9f\x94\x91 !")));
}

static void test_text_label(void **state)
{
    char buf[300];

    (void)state;
    assert_true(text_label_valid(S("Bob"), 64));
    assert_true(text_label_valid(S("R\xc3\xa9gine \xf0\x9f\x8c\x9f"), 64));
    assert_true(text_label_valid(S(" padded "), 64));
    /* 64 characters of two bytes each: 128 bytes but 64 characters */
    for (int i = 0; i < 64; i++) {
        buf[2 * i] = (char)0xc3;
        buf[2 * i + 1] = (char)0xa9;
    }
    assert_true(text_label_valid(buf, 128, 64));
    assert_false(text_label_valid(buf, 128, 63));
    memset(buf, 'a', sizeof buf);
    assert_true(text_label_valid(buf, 128, 128));
    assert_false(text_label_valid(buf, 129, 128));
    /* empty, blank, control characters */
    assert_false(text_label_valid(S(""), 64));
    assert_false(text_label_valid(S("   "), 64));
    assert_false(text_label_valid(S("a\tb"), 64));
    assert_false(text_label_valid(S("line\nbreak"), 64));
    assert_false(text_label_valid(S("\x7f"), 64));
    assert_false(text_label_valid(S("nul\0x"), 64));
    assert_false(text_label_valid(S("c1 \xc2\x85 next line"), 64));
    assert_false(text_label_valid(S("\xc2\x9f"), 64));
    assert_true(text_label_valid(S("\xc2\xa0nbsp"), 64));
    /* broken UTF-8: lone continuation, truncated, overlong, surrogate */
    assert_false(text_label_valid(S("\x80"), 64));
    assert_false(text_label_valid(S("ab\xc3"), 64));
    assert_false(text_label_valid(S("\xc0\xaf"), 64));
    assert_false(text_label_valid(S("\xed\xa0\x80"), 64));
    assert_false(text_label_valid(S("\xf4\x90\x80\x80"), 64));
    assert_false(text_label_valid(NULL, 3, 64));
}

static void test_roles(void **state)
{
    user_role ur;
    member_role mr;

    (void)state;
    assert_int_equal(user_role_parse("user", &ur), 0);
    assert_int_equal(ur, USER_ROLE_USER);
    assert_int_equal(user_role_parse("admin", &ur), 0);
    assert_int_equal(ur, USER_ROLE_ADMIN);
    assert_int_equal(user_role_parse("device", &ur), 0);
    assert_int_equal(ur, USER_ROLE_DEVICE);
    assert_int_equal(user_role_parse("owner", &ur), -1);
    assert_int_equal(user_role_parse("Admin", &ur), -1);
    assert_int_equal(user_role_parse("", &ur), -1);
    assert_int_equal(user_role_parse(NULL, &ur), -1);

    assert_int_equal(member_role_parse("owner", &mr), 0);
    assert_string_equal(member_role_name(mr), "owner");
    assert_int_equal(member_role_parse("admin", &mr), 0);
    assert_string_equal(member_role_name(mr), "admin");
    assert_int_equal(member_role_parse("member", &mr), 0);
    assert_string_equal(member_role_name(mr), "member");
    assert_int_equal(member_role_parse("user", &mr), -1);
    assert_int_equal(member_role_parse("member ", &mr), -1);
    assert_int_equal(member_role_parse(NULL, &mr), -1);
}

static void test_may_add(void **state)
{
    (void)state;
    assert_true(member_may_add(MEMBER_ROLE_OWNER, MEMBER_ROLE_MEMBER));
    assert_true(member_may_add(MEMBER_ROLE_OWNER, MEMBER_ROLE_ADMIN));
    assert_false(member_may_add(MEMBER_ROLE_OWNER, MEMBER_ROLE_OWNER));
    assert_true(member_may_add(MEMBER_ROLE_ADMIN, MEMBER_ROLE_MEMBER));
    assert_false(member_may_add(MEMBER_ROLE_ADMIN, MEMBER_ROLE_ADMIN));
    assert_false(member_may_add(MEMBER_ROLE_ADMIN, MEMBER_ROLE_OWNER));
    assert_false(member_may_add(MEMBER_ROLE_MEMBER, MEMBER_ROLE_MEMBER));
    assert_false(member_may_add(MEMBER_ROLE_MEMBER, MEMBER_ROLE_ADMIN));
}

static void test_may_remove(void **state)
{
    const member_role all[] = {MEMBER_ROLE_MEMBER, MEMBER_ROLE_ADMIN,
                               MEMBER_ROLE_OWNER};

    (void)state;
    /* everyone may leave */
    for (size_t a = 0; a < 3; a++)
        assert_true(member_may_remove(all[a], all[a], true));
    /* the owner may remove anyone */
    for (size_t t = 0; t < 3; t++)
        assert_true(member_may_remove(MEMBER_ROLE_OWNER, all[t], false));
    /* an admin only plain members */
    assert_true(
        member_may_remove(MEMBER_ROLE_ADMIN, MEMBER_ROLE_MEMBER, false));
    assert_false(
        member_may_remove(MEMBER_ROLE_ADMIN, MEMBER_ROLE_ADMIN, false));
    assert_false(
        member_may_remove(MEMBER_ROLE_ADMIN, MEMBER_ROLE_OWNER, false));
    /* a member nobody else */
    for (size_t t = 0; t < 3; t++)
        assert_false(member_may_remove(MEMBER_ROLE_MEMBER, all[t], false));
}

static void test_may_set_role(void **state)
{
    (void)state;
    assert_true(member_may_set_role(MEMBER_ROLE_OWNER));
    assert_false(member_may_set_role(MEMBER_ROLE_ADMIN));
    assert_false(member_may_set_role(MEMBER_ROLE_MEMBER));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username),   cmocka_unit_test(test_device),
        cmocka_unit_test(test_password),   cmocka_unit_test(test_text_label),
        cmocka_unit_test(test_roles),      cmocka_unit_test(test_may_add),
        cmocka_unit_test(test_may_remove), cmocka_unit_test(test_may_set_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
