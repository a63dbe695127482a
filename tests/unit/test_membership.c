/*
 * test_membership.c - unit tests for plugin/membership.c, the in-memory
 * membership cache every ACL check reads: set, get, remove and count, role
 * updates, pairs that differ only in conversation or only in user, a NULL
 * cache holding no one, 100,000 entries all found, "shares a conversation"
 * (which decides who may see whose presence), and member_role_parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "plugin/membership.h"

#define CONV_A "11111111-1111-4111-8111-111111111111"
#define CONV_B "22222222-2222-4222-8222-222222222222"
#define USER_X "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define USER_Y "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static uuid_bin uuid(const char *s)
{
    uuid_bin u;

    assert_int_equal(uuid_parse_n(s, UUID_STR_LEN, &u), 0);
    return u;
}

/* A uuid_bin made from a counter, for bulk tests. */
static uuid_bin uuid_from_index(uint32_t i, uint8_t tag)
{
    uuid_bin u;

    memset(&u, 0, sizeof u);
    u.b[0] = tag;
    memcpy(&u.b[12], &i, sizeof i);
    return u;
}

static int setup_cache(void **state)
{
    *state = membership_cache_new();
    return *state == NULL ? -1 : 0;
}

static int teardown_cache(void **state)
{
    membership_cache_free(*state);
    return 0;
}

static void test_new_cache_is_empty(void **state)
{
    membership_cache *c = *state;
    uuid_bin conv = uuid(CONV_A), user = uuid(USER_X);

    assert_int_equal(membership_cache_count(c), 0);
    assert_false(membership_cache_get(c, &conv, &user, NULL));
}

static void test_set_then_get_finds_member_with_role(void **state)
{
    membership_cache *c = *state;
    uuid_bin conv = uuid(CONV_A), user = uuid(USER_X);
    member_role role = MEMBER_ROLE_MEMBER;

    assert_int_equal(membership_cache_set(c, &conv, &user, MEMBER_ROLE_ADMIN),
                     0);
    assert_true(membership_cache_get(c, &conv, &user, &role));
    assert_int_equal(role, MEMBER_ROLE_ADMIN);
    assert_true(membership_cache_get(c, &conv, &user, NULL));
    assert_int_equal(membership_cache_count(c), 1);
}

static void test_get_does_not_touch_role_when_absent(void **state)
{
    membership_cache *c = *state;
    uuid_bin conv = uuid(CONV_A), user = uuid(USER_X);
    member_role role = MEMBER_ROLE_OWNER;

    assert_false(membership_cache_get(c, &conv, &user, &role));
    assert_int_equal(role, MEMBER_ROLE_OWNER);
}

static void test_pairs_are_distinct_by_conv_and_by_user(void **state)
{
    membership_cache *c = *state;
    uuid_bin a = uuid(CONV_A), b = uuid(CONV_B);
    uuid_bin x = uuid(USER_X), y = uuid(USER_Y);

    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_MEMBER), 0);
    assert_true(membership_cache_get(c, &a, &x, NULL));
    assert_false(membership_cache_get(c, &b, &x, NULL)); /* other conv */
    assert_false(membership_cache_get(c, &a, &y, NULL)); /* other user */
    assert_false(membership_cache_get(c, &x, &a, NULL)); /* swapped */
}

static void test_set_twice_updates_role_without_duplicate(void **state)
{
    membership_cache *c = *state;
    uuid_bin conv = uuid(CONV_A), user = uuid(USER_X);
    member_role role;

    assert_int_equal(membership_cache_set(c, &conv, &user, MEMBER_ROLE_MEMBER),
                     0);
    assert_int_equal(membership_cache_set(c, &conv, &user, MEMBER_ROLE_OWNER),
                     0);
    assert_int_equal(membership_cache_count(c), 1);
    assert_true(membership_cache_get(c, &conv, &user, &role));
    assert_int_equal(role, MEMBER_ROLE_OWNER);
    assert_int_equal(membership_cache_set(c, &conv, &user, MEMBER_ROLE_MEMBER),
                     0);
    assert_true(membership_cache_get(c, &conv, &user, &role));
    assert_int_equal(role, MEMBER_ROLE_MEMBER);
}

static void test_remove_forgets_only_that_pair(void **state)
{
    membership_cache *c = *state;
    uuid_bin a = uuid(CONV_A), b = uuid(CONV_B);
    uuid_bin x = uuid(USER_X), y = uuid(USER_Y);

    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_MEMBER), 0);
    assert_int_equal(membership_cache_set(c, &a, &y, MEMBER_ROLE_MEMBER), 0);
    assert_int_equal(membership_cache_set(c, &b, &x, MEMBER_ROLE_MEMBER), 0);
    assert_int_equal(membership_cache_count(c), 3);

    membership_cache_remove(c, &a, &x);
    assert_false(membership_cache_get(c, &a, &x, NULL));
    assert_true(membership_cache_get(c, &a, &y, NULL));
    assert_true(membership_cache_get(c, &b, &x, NULL));
    assert_int_equal(membership_cache_count(c), 2);
}

static void test_remove_absent_pair_is_harmless(void **state)
{
    membership_cache *c = *state;
    uuid_bin a = uuid(CONV_A), x = uuid(USER_X), y = uuid(USER_Y);

    membership_cache_remove(c, &a, &x); /* empty cache */
    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_MEMBER), 0);
    membership_cache_remove(c, &a, &y);
    assert_int_equal(membership_cache_count(c), 1);
    membership_cache_remove(c, &a, &x);
    membership_cache_remove(c, &a, &x); /* twice */
    assert_int_equal(membership_cache_count(c), 0);
}

static void test_set_after_remove_adds_again(void **state)
{
    membership_cache *c = *state;
    uuid_bin a = uuid(CONV_A), x = uuid(USER_X);
    member_role role;

    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_ADMIN), 0);
    membership_cache_remove(c, &a, &x);
    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_MEMBER), 0);
    assert_true(membership_cache_get(c, &a, &x, &role));
    assert_int_equal(role, MEMBER_ROLE_MEMBER);
}

static void test_null_cache_has_no_members(void **state)
{
    uuid_bin a = uuid(CONV_A), x = uuid(USER_X);
    member_role role = MEMBER_ROLE_OWNER;

    (void)state;
    assert_false(membership_cache_get(NULL, &a, &x, &role));
    assert_int_equal(role, MEMBER_ROLE_OWNER);
    assert_int_equal(membership_cache_count(NULL), 0);
    membership_cache_free(NULL);
}

static void test_100k_entries_all_found(void **state)
{
    enum { N = 100000, CONVS = 1000 };
    membership_cache *c = *state;

    /* 1000 conversations with 100 members each; user ids overlap between
     * conversations so only the pair identifies an entry. */
    for (uint32_t i = 0; i < N; i++) {
        uuid_bin conv = uuid_from_index(i % CONVS, 0xc0);
        uuid_bin user = uuid_from_index(i / CONVS, 0xa0);
        assert_int_equal(
            membership_cache_set(c, &conv, &user, (member_role)(i % 3)), 0);
    }
    assert_int_equal(membership_cache_count(c), N);
    for (uint32_t i = 0; i < N; i++) {
        uuid_bin conv = uuid_from_index(i % CONVS, 0xc0);
        uuid_bin user = uuid_from_index(i / CONVS, 0xa0);
        member_role role;
        assert_true(membership_cache_get(c, &conv, &user, &role));
        assert_int_equal(role, (member_role)(i % 3));
    }
    /* A user beyond the last row is in no conversation. */
    {
        uuid_bin conv = uuid_from_index(0, 0xc0);
        uuid_bin user = uuid_from_index(N / CONVS, 0xa0);
        assert_false(membership_cache_get(c, &conv, &user, NULL));
    }
    /* Removing half leaves exactly the other half. */
    for (uint32_t i = 0; i < N; i += 2) {
        uuid_bin conv = uuid_from_index(i % CONVS, 0xc0);
        uuid_bin user = uuid_from_index(i / CONVS, 0xa0);
        membership_cache_remove(c, &conv, &user);
    }
    assert_int_equal(membership_cache_count(c), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        uuid_bin conv = uuid_from_index(i % CONVS, 0xc0);
        uuid_bin user = uuid_from_index(i / CONVS, 0xa0);
        assert_int_equal(membership_cache_get(c, &conv, &user, NULL),
                         i % 2 == 1);
    }
}

static void test_share_conv_true_only_for_co_members(void **state)
{
    membership_cache *c = *state;
    uuid_bin a = uuid(CONV_A), b = uuid(CONV_B);
    uuid_bin x = uuid(USER_X), y = uuid(USER_Y);
    uuid_bin z = uuid("cccccccc-cccc-4ccc-8ccc-cccccccccccc");

    assert_false(membership_cache_share_conv(c, &x, &y));
    assert_int_equal(membership_cache_set(c, &a, &x, MEMBER_ROLE_MEMBER), 0);
    assert_int_equal(membership_cache_set(c, &b, &y, MEMBER_ROLE_MEMBER), 0);
    /* Each is in a conversation, but not the same one. */
    assert_false(membership_cache_share_conv(c, &x, &y));
    assert_int_equal(membership_cache_set(c, &b, &x, MEMBER_ROLE_ADMIN), 0);
    assert_true(membership_cache_share_conv(c, &x, &y));
    assert_true(membership_cache_share_conv(c, &y, &x)); /* symmetric */
    /* A user in no conversation shares none. */
    assert_false(membership_cache_share_conv(c, &x, &z));
    assert_false(membership_cache_share_conv(c, &z, &x));
    /* Leaving the common conversation ends the sharing. */
    membership_cache_remove(c, &b, &x);
    assert_false(membership_cache_share_conv(c, &x, &y));
    assert_false(membership_cache_share_conv(c, &y, &x));
}

static void test_share_conv_null_cache_shares_nothing(void **state)
{
    uuid_bin x = uuid(USER_X), y = uuid(USER_Y);

    (void)state;
    assert_false(membership_cache_share_conv(NULL, &x, &y));
}

static void
test_share_conv_survives_removals_anywhere_in_a_users_list(void **state)
{
    enum { CONVS = 5 };
    membership_cache *c = *state;
    uuid_bin x = uuid(USER_X), y = uuid(USER_Y);

    /* X is in conversations 0..4, Y in each one alone with X: removing X
     * from one conversation must leave X's other memberships reachable,
     * whether the removed one was first, last or in the middle of X's
     * list. */
    for (uint32_t i = 0; i < CONVS; i++) {
        uuid_bin conv = uuid_from_index(i, 0xc0);
        assert_int_equal(membership_cache_set(c, &conv, &x, MEMBER_ROLE_MEMBER),
                         0);
    }
    {
        uuid_bin last = uuid_from_index(CONVS - 1, 0xc0);
        assert_int_equal(membership_cache_set(c, &last, &y, MEMBER_ROLE_MEMBER),
                         0);
    }
    static const uint32_t order[] = {2, 0, 3}; /* middle, one end, other */
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        uuid_bin conv = uuid_from_index(order[k], 0xc0);
        membership_cache_remove(c, &conv, &x);
        assert_true(membership_cache_share_conv(c, &x, &y));
        assert_true(membership_cache_share_conv(c, &y, &x));
    }
    {
        uuid_bin one = uuid_from_index(1, 0xc0);
        uuid_bin last = uuid_from_index(CONVS - 1, 0xc0);
        membership_cache_remove(c, &last, &x);
        assert_false(membership_cache_share_conv(c, &x, &y));
        membership_cache_remove(c, &one, &x);
        assert_int_equal(membership_cache_count(c), 1);
        /* X may join again after leaving everything. */
        assert_int_equal(membership_cache_set(c, &last, &x, MEMBER_ROLE_MEMBER),
                         0);
        assert_true(membership_cache_share_conv(c, &x, &y));
    }
}

static void test_role_parse_known_names(void **state)
{
    member_role role;

    (void)state;
    assert_int_equal(member_role_parse("member", &role), 0);
    assert_int_equal(role, MEMBER_ROLE_MEMBER);
    assert_int_equal(member_role_parse("admin", &role), 0);
    assert_int_equal(role, MEMBER_ROLE_ADMIN);
    assert_int_equal(member_role_parse("owner", &role), 0);
    assert_int_equal(role, MEMBER_ROLE_OWNER);
}

static void test_role_parse_refuses_others(void **state)
{
    member_role role = MEMBER_ROLE_OWNER;

    (void)state;
    assert_int_equal(member_role_parse("", &role), -1);
    assert_int_equal(member_role_parse(NULL, &role), -1);
    assert_int_equal(member_role_parse("Admin", &role), -1);
    assert_int_equal(member_role_parse("admins", &role), -1);
    assert_int_equal(member_role_parse("admi", &role), -1);
    assert_int_equal(member_role_parse(" member", &role), -1);
    assert_int_equal(member_role_parse("user", &role), -1);
    assert_int_equal(role, MEMBER_ROLE_OWNER);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_cache, teardown_cache)
    const struct CMUnitTest tests[] = {
        T(test_new_cache_is_empty),
        T(test_set_then_get_finds_member_with_role),
        T(test_get_does_not_touch_role_when_absent),
        T(test_pairs_are_distinct_by_conv_and_by_user),
        T(test_set_twice_updates_role_without_duplicate),
        T(test_remove_forgets_only_that_pair),
        T(test_remove_absent_pair_is_harmless),
        T(test_set_after_remove_adds_again),
        cmocka_unit_test(test_null_cache_has_no_members),
        T(test_100k_entries_all_found),
        T(test_share_conv_true_only_for_co_members),
        cmocka_unit_test(test_share_conv_null_cache_shares_nothing),
        T(test_share_conv_survives_removals_anywhere_in_a_users_list),
        cmocka_unit_test(test_role_parse_known_names),
        cmocka_unit_test(test_role_parse_refuses_others),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
