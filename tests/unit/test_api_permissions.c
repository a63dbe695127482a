/*
 * test_api_permissions.c - unit tests for the message rules of
 * httpapi/permissions.c (who may edit or delete a message, and when) and
 * validate.c's message_body_valid.
 *
 * The verdicts are checked exhaustively against a model written here from
 * the rules (author, text, deleted, hidden, every role, ages around the
 * window's edge and at the extremes), then the edges that matter are
 * spelled out: the window's last millisecond, a window of 0, clock skew,
 * owners and admins who may delete but never edit someone else's message,
 * the order of the refusals.  Bodies: the 4,000-character limit counted in
 * code points (not bytes), broken UTF-8 and NUL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "httpapi/config.h"
#include "httpapi/permissions.h"
#include "httpapi/validate.h"

#define S(lit) lit, sizeof(lit) - 1

static message_facts facts(bool author, bool text, bool deleted, bool hidden,
                           member_role role, int64_t age_ms)
{
    message_facts f = {.is_author = author,
                       .is_text = text,
                       .deleted = deleted,
                       .hidden = hidden,
                       .role = role,
                       .age_ms = age_ms};
    return f;
}

/* The rules, restated independently of permissions.c. */
static bool model_in_window(int64_t age_ms, long window_s)
{
    if (window_s == 0)
        return false;
    return age_ms < 0 || (uint64_t)age_ms < (uint64_t)window_s * 1000u;
}

static message_verdict model_edit(const message_facts *f, long w)
{
    if (f->deleted || f->hidden)
        return MESSAGE_GONE;
    if (!f->is_author)
        return MESSAGE_NOT_AUTHOR;
    if (!f->is_text)
        return MESSAGE_NOT_TEXT;
    return model_in_window(f->age_ms, w) ? MESSAGE_ALLOWED
                                         : MESSAGE_WINDOW_PASSED;
}

static message_verdict model_delete(const message_facts *f, long w)
{
    bool moderator =
        f->role == MEMBER_ROLE_OWNER || f->role == MEMBER_ROLE_ADMIN;

    if (f->deleted)
        return MESSAGE_GONE;
    if (moderator)
        return MESSAGE_ALLOWED;
    if (!f->is_author)
        return MESSAGE_NOT_AUTHOR;
    return model_in_window(f->age_ms, w) ? MESSAGE_ALLOWED
                                         : MESSAGE_WINDOW_PASSED;
}

static void test_exhaustive_against_model(void **state)
{
    static const long windows[] = {0, 1, 2, 900, 3600, MESSAGE_WINDOW_MAX};
    static const member_role roles[] = {MEMBER_ROLE_MEMBER, MEMBER_ROLE_ADMIN,
                                        MEMBER_ROLE_OWNER};
    size_t checked = 0;

    (void)state;
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        long win = windows[w];
        int64_t edge = (int64_t)win * 1000;
        const int64_t ages[] = {INT64_MIN, -86400000,     -1,       0,
                                1,         edge - 1,      edge,     edge + 1,
                                edge * 2,  INT64_MAX / 2, INT64_MAX};
        for (size_t a = 0; a < sizeof ages / sizeof ages[0]; a++) {
            for (unsigned bits = 0; bits < 16; bits++) {
                for (size_t r = 0; r < 3; r++) {
                    message_facts f = facts(bits & 1, bits & 2, bits & 4,
                                            bits & 8, roles[r], ages[a]);
                    if (message_may_edit(&f, win) != model_edit(&f, win))
                        fail_msg("edit: window %ld age %lld bits %u role %d",
                                 win, (long long)ages[a], bits, (int)roles[r]);
                    if (message_may_delete(&f, win) != model_delete(&f, win))
                        fail_msg("delete: window %ld age %lld bits %u role %d",
                                 win, (long long)ages[a], bits, (int)roles[r]);
                    checked++;
                }
            }
        }
    }
    assert_true(checked > 3000);
}

static void test_window_edges(void **state)
{
    (void)state;
    /* 900 s: the last allowed millisecond is 899,999 */
    assert_true(message_within_window(0, 900));
    assert_true(message_within_window(899999, 900));
    assert_false(message_within_window(900000, 900));
    assert_false(message_within_window(900001, 900));
    /* a window of 0 is closed even for a brand new message */
    assert_false(message_within_window(0, 0));
    assert_false(message_within_window(-5, 0));
    /* the broker's clock ahead of the database's: a "future" message is
     * new, whatever the amount */
    assert_true(message_within_window(-1, 1));
    assert_true(message_within_window(INT64_MIN, 1));
    /* the largest window, no overflow, and an absurd age still passes it */
    assert_true(message_within_window((int64_t)MESSAGE_WINDOW_MAX * 1000 - 1,
                                      MESSAGE_WINDOW_MAX));
    assert_false(message_within_window((int64_t)MESSAGE_WINDOW_MAX * 1000,
                                       MESSAGE_WINDOW_MAX));
    assert_false(message_within_window(INT64_MAX, MESSAGE_WINDOW_MAX));
    /* a negative window (never configured, but) is closed */
    assert_false(message_within_window(0, -1));
}

static void test_edit_rules(void **state)
{
    message_facts f;

    (void)state;
    /* the author, text, in time */
    f = facts(true, true, false, false, MEMBER_ROLE_MEMBER, 1000);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_ALLOWED);
    /* one millisecond late */
    f.age_ms = 900000;
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_WINDOW_PASSED);
    /* owners and admins never edit someone else's words */
    f = facts(false, true, false, false, MEMBER_ROLE_OWNER, 0);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_NOT_AUTHOR);
    f.role = MEMBER_ROLE_ADMIN;
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_NOT_AUTHOR);
    /* the owner's own message past the window: role does not extend it */
    f = facts(true, true, false, false, MEMBER_ROLE_OWNER, 10000000);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_WINDOW_PASSED);
    /* only text */
    f = facts(true, false, false, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_NOT_TEXT);
    /* a deleted or hidden message cannot be brought back by an edit */
    f = facts(true, true, true, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_GONE);
    f = facts(true, true, false, true, MEMBER_ROLE_OWNER, 0);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_GONE);
    /* edits turned off */
    f = facts(true, true, false, false, MEMBER_ROLE_OWNER, 0);
    assert_int_equal(message_may_edit(&f, 0), MESSAGE_WINDOW_PASSED);
    /* order: someone else's non-text message is "not yours" first; a late
     * non-text message of one's own is "not text" */
    f = facts(false, false, false, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_NOT_AUTHOR);
    f = facts(true, false, false, false, MEMBER_ROLE_MEMBER, 99999999);
    assert_int_equal(message_may_edit(&f, 900), MESSAGE_NOT_TEXT);
}

static void test_delete_rules(void **state)
{
    message_facts f;

    (void)state;
    /* the author within the window, any type */
    f = facts(true, false, false, false, MEMBER_ROLE_MEMBER, 3599999);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_ALLOWED);
    f.age_ms = 3600000;
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_WINDOW_PASSED);
    /* another plain member: never */
    f = facts(false, true, false, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_NOT_AUTHOR);
    /* owners and admins: anyone's, at any age, even with deletes off */
    f = facts(false, true, false, false, MEMBER_ROLE_ADMIN, INT64_MAX);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_ALLOWED);
    f.role = MEMBER_ROLE_OWNER;
    assert_int_equal(message_may_delete(&f, 0), MESSAGE_ALLOWED);
    /* an admin's own old message */
    f = facts(true, true, false, false, MEMBER_ROLE_ADMIN, INT64_MAX);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_ALLOWED);
    /* a hidden message may still be deleted (by its author in time) */
    f = facts(true, true, false, true, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_ALLOWED);
    /* already deleted: nothing to do, for anyone */
    f = facts(false, true, true, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_GONE);
    f.role = MEMBER_ROLE_OWNER;
    assert_int_equal(message_may_delete(&f, 3600), MESSAGE_GONE);
    /* deletes turned off for authors */
    f = facts(true, true, false, false, MEMBER_ROLE_MEMBER, 0);
    assert_int_equal(message_may_delete(&f, 0), MESSAGE_WINDOW_PASSED);
}

static void test_body(void **state)
{
    char *buf = malloc(4 * 4001 + 1);

    (void)state;
    assert_non_null(buf);
    assert_true(message_body_valid(S("x")));
    assert_true(message_body_valid(S(" ")));  /* as the broker: not empty */
    assert_true(message_body_valid(S("\n"))); /* line breaks are text */
    assert_false(message_body_valid(S("")));
    assert_false(message_body_valid(NULL, 3));
    /* 4000 ASCII characters, not 4001 */
    memset(buf, 'a', 4001);
    assert_true(message_body_valid(buf, 4000));
    assert_false(message_body_valid(buf, 4001));
    /* characters, not bytes: 4000 two-byte and 4000 four-byte ones */
    for (int i = 0; i < 4001; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 2);
    assert_true(message_body_valid(buf, 2 * 4000));
    assert_false(message_body_valid(buf, 2 * 4001));
    for (int i = 0; i < 4001; i++)
        memcpy(buf + 4 * i, "\xf0\x9f\x98\x80", 4);
    assert_true(message_body_valid(buf, 4 * 4000));
    assert_false(message_body_valid(buf, 4 * 4001));
    /* half a character at the end */
    assert_false(message_body_valid(buf, 4 * 10 + 3));
    /* broken UTF-8 */
    assert_false(message_body_valid(S("\xc0\xaf")));         /* overlong / */
    assert_false(message_body_valid(S("\xed\xa0\x80")));     /* surrogate */
    assert_false(message_body_valid(S("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(message_body_valid(S("\xff")));
    assert_false(message_body_valid(S("ok\x80")));
    /* NUL would cut the stored text short */
    assert_false(message_body_valid(S("a\0b")));
    assert_false(message_body_valid(S("\0")));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exhaustive_against_model),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_edit_rules),
        cmocka_unit_test(test_delete_rules),
        cmocka_unit_test(test_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
