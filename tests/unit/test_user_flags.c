/*
 * test_user_flags.c - unit tests for plugin/user_flags.c, the per-user
 * settings the broker checks at connect and when announcing presence: an
 * unknown user has nothing set and may connect; a ban refuses tokens until
 * it ends; tokens_valid_after refuses tokens issued at or before it; setting
 * all-clear removes the user's entry (checked by the heap it gives back);
 * values are replaced, not merged; presence_hidden round-trips; free with
 * entries (run under valgrind and ASan for leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <string.h>

#include "plugin/user_flags.h"

#define ALICE "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define BOB "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

#define NOW_S 1795638659LL

static uuid_bin uuid(const char *s)
{
    uuid_bin u;

    assert_int_equal(uuid_parse_n(s, UUID_STR_LEN, &u), 0);
    return u;
}

/* A uuid_bin made from a counter, for bulk tests. */
static uuid_bin uuid_from_index(uint32_t i)
{
    uuid_bin u;

    memset(&u, 0x5a, sizeof u);
    memcpy(&u.b[12], &i, sizeof i);
    return u;
}

static void assert_all_clear(user_flag_values v)
{
    assert_int_equal(v.tokens_valid_after_s, 0);
    assert_int_equal(v.banned_until_s, 0);
    assert_false(v.presence_hidden);
}

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes the process has allocated and not freed, as far as the allocator in
 * use can tell: ASan's own count under ASan, glibc's otherwise (under
 * valgrind, which replaces the allocator, it may not move at all). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

static int setup(void **state)
{
    *state = user_flags_new();
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    user_flags_free(*state);
    return 0;
}

/* ---- unknown users ---------------------------------------------------- */

static void test_unknown_user_all_clear_and_allowed(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE);

    assert_all_clear(user_flags_get(f, &alice));
    assert_true(user_flags_token_allowed(f, &alice, NOW_S - 3600, NOW_S));
    assert_true(user_flags_token_allowed(f, &alice, 0, NOW_S));
    assert_true(user_flags_token_allowed(f, &alice, 1, NOW_S));
    /* No table at all: nobody has anything set. */
    assert_all_clear(user_flags_get(NULL, &alice));
    assert_true(user_flags_token_allowed(NULL, &alice, NOW_S, NOW_S));
}

/* ---- bans --------------------------------------------------------------- */

static void test_ban_in_future_refuses_every_token(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE), bob = uuid(BOB);
    user_flag_values v = {.banned_until_s = NOW_S + 60};

    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_int_equal(user_flags_get(f, &alice).banned_until_s, NOW_S + 60);
    /* Old and fresh tokens alike. */
    assert_false(user_flags_token_allowed(f, &alice, NOW_S - 3600, NOW_S));
    assert_false(user_flags_token_allowed(f, &alice, NOW_S, NOW_S));
    assert_false(user_flags_token_allowed(f, &alice, NOW_S + 30, NOW_S + 59));
    /* Only Alice is banned. */
    assert_true(user_flags_token_allowed(f, &bob, NOW_S, NOW_S));
}

static void test_ban_in_past_allows(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE);
    user_flag_values v = {.banned_until_s = NOW_S - 1};

    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_true(user_flags_token_allowed(f, &alice, NOW_S - 3600, NOW_S));
    /* The ban ends at banned_until: refused the second before, allowed
     * from that second on. */
    v.banned_until_s = NOW_S;
    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_false(user_flags_token_allowed(f, &alice, NOW_S, NOW_S - 1));
    assert_true(user_flags_token_allowed(f, &alice, NOW_S, NOW_S));
    assert_true(user_flags_token_allowed(f, &alice, NOW_S, NOW_S + 1));
}

/* ---- revocation ------------------------------------------------------- */

static void test_tokens_valid_after_refuses_iat_at_or_before(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE), bob = uuid(BOB);
    user_flag_values v = {.tokens_valid_after_s = NOW_S - 100};

    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_false(user_flags_token_allowed(f, &alice, NOW_S - 3600, NOW_S));
    assert_false(user_flags_token_allowed(f, &alice, NOW_S - 101, NOW_S));
    /* A token issued in the very second of the revocation may predate it
     * within that second: refused. */
    assert_false(user_flags_token_allowed(f, &alice, NOW_S - 100, NOW_S));
    assert_true(user_flags_token_allowed(f, &alice, NOW_S - 99, NOW_S));
    assert_true(user_flags_token_allowed(f, &alice, NOW_S, NOW_S));
    /* Revoking Alice's tokens does not touch Bob's. */
    assert_true(user_flags_token_allowed(f, &bob, NOW_S - 3600, NOW_S));
}

static void test_ban_and_revocation_both_apply(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE);
    user_flag_values v = {.tokens_valid_after_s = NOW_S - 100,
                          .banned_until_s = NOW_S + 100};

    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    /* Banned: even a fresh token. */
    assert_false(user_flags_token_allowed(f, &alice, NOW_S, NOW_S));
    /* After the ban: fresh tokens yes, revoked ones still no. */
    assert_true(user_flags_token_allowed(f, &alice, NOW_S + 100, NOW_S + 100));
    assert_false(user_flags_token_allowed(f, &alice, NOW_S - 100, NOW_S + 100));
}

/* ---- set and get ------------------------------------------------------ */

static void test_set_replaces_all_values(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE);
    user_flag_values banned = {.banned_until_s = NOW_S + 60,
                               .tokens_valid_after_s = NOW_S - 5};
    user_flag_values hidden = {.presence_hidden = true};
    user_flag_values got;

    assert_int_equal(user_flags_set(f, &alice, &banned), 0);
    got = user_flags_get(f, &alice);
    assert_int_equal(got.banned_until_s, NOW_S + 60);
    assert_int_equal(got.tokens_valid_after_s, NOW_S - 5);
    assert_false(got.presence_hidden);
    /* The new values are the whole state, not merged into the old. */
    assert_int_equal(user_flags_set(f, &alice, &hidden), 0);
    got = user_flags_get(f, &alice);
    assert_int_equal(got.banned_until_s, 0);
    assert_int_equal(got.tokens_valid_after_s, 0);
    assert_true(got.presence_hidden);
    assert_true(user_flags_token_allowed(f, &alice, NOW_S - 10, NOW_S));
}

static void test_set_all_clear_removes_entry(void **state)
{
    enum { N = 2000 };
    user_flags *f = *state;
    user_flag_values set = {.banned_until_s = NOW_S + 60};
    user_flag_values clear = {0};
    size_t before, during, after;

    before = heap_in_use();
    for (uint32_t i = 0; i < N; i++) {
        uuid_bin u = uuid_from_index(i);
        assert_int_equal(user_flags_set(f, &u, &set), 0);
    }
    during = heap_in_use();
    for (uint32_t i = 0; i < N; i++) {
        uuid_bin u = uuid_from_index(i);
        assert_int_equal(user_flags_set(f, &u, &clear), 0);
        assert_all_clear(user_flags_get(f, &u));
        assert_true(user_flags_token_allowed(f, &u, NOW_S, NOW_S));
    }
    /* Clearing a user who was never set stores nothing either. */
    for (uint32_t i = N; i < 2 * N; i++) {
        uuid_bin u = uuid_from_index(i);
        assert_int_equal(user_flags_set(f, &u, &clear), 0);
    }
    after = heap_in_use();
    /* Every entry is given back.  Not to the byte: glibc counts chunks
     * parked in its per-thread cache as in use.  But the N entries held
     * are many times that slack.  (Where the allocator cannot be observed,
     * as under valgrind, the readings do not move and this proves
     * nothing; the plain and ASan builds check it.) */
    if (during == before)
        return;
    assert_true(during >= before + N * sizeof(uuid_bin));
    if (after > before && after - before > (during - before) / 10)
        fail_msg("%zu bytes still held after clearing, %zu when set",
                 after - before, during - before);
}

static void test_presence_hidden_round_trip(void **state)
{
    user_flags *f = *state;
    uuid_bin alice = uuid(ALICE), bob = uuid(BOB);
    user_flag_values v = {.presence_hidden = true};

    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_true(user_flags_get(f, &alice).presence_hidden);
    assert_false(user_flags_get(f, &bob).presence_hidden);
    /* Hiding one's presence is not a ban. */
    assert_true(user_flags_token_allowed(f, &alice, NOW_S, NOW_S));
    v.presence_hidden = false;
    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_all_clear(user_flags_get(f, &alice));
    v.presence_hidden = true;
    assert_int_equal(user_flags_set(f, &alice, &v), 0);
    assert_true(user_flags_get(f, &alice).presence_hidden);
}

static void test_free_with_entries(void **state)
{
    user_flags *f = user_flags_new();
    user_flag_values v = {.tokens_valid_after_s = NOW_S,
                          .presence_hidden = true};

    (void)state;
    assert_non_null(f);
    for (uint32_t i = 0; i < 1000; i++) {
        uuid_bin u = uuid_from_index(i);
        v.banned_until_s = i % 2 ? NOW_S + i : 0;
        assert_int_equal(user_flags_set(f, &u, &v), 0);
    }
    user_flags_free(f); /* valgrind and ASan check nothing leaks */
    user_flags_free(NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_unknown_user_all_clear_and_allowed),
        T(test_ban_in_future_refuses_every_token),
        T(test_ban_in_past_allows),
        T(test_tokens_valid_after_refuses_iat_at_or_before),
        T(test_ban_and_revocation_both_apply),
        T(test_set_replaces_all_values),
        T(test_set_all_clear_removes_entry),
        T(test_presence_hidden_round_trip),
        cmocka_unit_test(test_free_with_entries),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
