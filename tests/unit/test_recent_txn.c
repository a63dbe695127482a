/*
 * test_recent_txn.c - unit tests for plugin/recent_txn.c, the bounded table
 * that lets a resent (sender, txn) be stamped with its first id and time:
 * put then get, the first stamp kept on a second put, eviction of the oldest
 * entry when full, senders kept apart, and the 64-character txn limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "plugin/recent_txn.h"

#define ALICE "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define BOB "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static uuid_bin uuid(const char *s)
{
    uuid_bin u;

    assert_int_equal(uuid_parse_n(s, UUID_STR_LEN, &u), 0);
    return u;
}

/* Fills buf with n copies of c and a NUL. */
static const char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* True if (sender, txn) is held with exactly (id, ts). */
static bool holds(recent_txn *t, const uuid_bin *sender, const char *txn,
                  uint64_t id, int64_t ts)
{
    uint64_t got_id = 0;
    int64_t got_ts = 0;

    return recent_txn_get(t, sender, txn, &got_id, &got_ts) && got_id == id &&
           got_ts == ts;
}

static bool has(recent_txn *t, const uuid_bin *sender, const char *txn)
{
    uint64_t id;
    int64_t ts;

    return recent_txn_get(t, sender, txn, &id, &ts);
}

static void test_new_refuses_zero_capacity(void **state)
{
    (void)state;
    assert_null(recent_txn_new(0));
    recent_txn_free(NULL);
}

static void test_put_then_get_returns_stamp(void **state)
{
    recent_txn *t = recent_txn_new(16);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    assert_non_null(t);
    assert_int_equal(recent_txn_count(t), 0);
    assert_false(has(t, &alice, "t1"));
    recent_txn_put(t, &alice, "t1", 1234567890123ULL, 1700000000000LL);
    assert_true(holds(t, &alice, "t1", 1234567890123ULL, 1700000000000LL));
    assert_false(has(t, &alice, "t2"));
    assert_int_equal(recent_txn_count(t), 1);
    recent_txn_free(t);
}

static void test_second_put_keeps_first_stamp(void **state)
{
    recent_txn *t = recent_txn_new(16);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    recent_txn_put(t, &alice, "t1", 100, 1000);
    recent_txn_put(t, &alice, "t1", 200, 2000);
    assert_true(holds(t, &alice, "t1", 100, 1000));
    assert_int_equal(recent_txn_count(t), 1);
    recent_txn_free(t);
}

static void test_full_table_evicts_oldest(void **state)
{
    recent_txn *t = recent_txn_new(3);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    recent_txn_put(t, &alice, "t1", 1, 10);
    recent_txn_put(t, &alice, "t2", 2, 20);
    recent_txn_put(t, &alice, "t3", 3, 30);
    assert_int_equal(recent_txn_count(t), 3);
    recent_txn_put(t, &alice, "t4", 4, 40);
    assert_int_equal(recent_txn_count(t), 3);
    assert_false(has(t, &alice, "t1"));
    assert_true(holds(t, &alice, "t2", 2, 20));
    assert_true(holds(t, &alice, "t3", 3, 30));
    assert_true(holds(t, &alice, "t4", 4, 40));
    /* Once round the ring: the 5th evicts the 2nd. */
    recent_txn_put(t, &alice, "t5", 5, 50);
    assert_false(has(t, &alice, "t2"));
    assert_true(holds(t, &alice, "t3", 3, 30));
    assert_true(holds(t, &alice, "t5", 5, 50));
    recent_txn_free(t);
}

static void test_repeated_put_does_not_take_a_slot(void **state)
{
    recent_txn *t = recent_txn_new(3);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    recent_txn_put(t, &alice, "t1", 1, 10);
    recent_txn_put(t, &alice, "t2", 2, 20);
    recent_txn_put(t, &alice, "t1", 9, 90); /* a resend: no new entry */
    recent_txn_put(t, &alice, "t3", 3, 30);
    assert_true(holds(t, &alice, "t1", 1, 10));
    assert_true(holds(t, &alice, "t2", 2, 20));
    assert_true(holds(t, &alice, "t3", 3, 30));
    recent_txn_free(t);
}

static void test_capacity_one_keeps_latest(void **state)
{
    recent_txn *t = recent_txn_new(1);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    recent_txn_put(t, &alice, "t1", 1, 10);
    recent_txn_put(t, &alice, "t2", 2, 20);
    assert_false(has(t, &alice, "t1"));
    assert_true(holds(t, &alice, "t2", 2, 20));
    assert_int_equal(recent_txn_count(t), 1);
    recent_txn_free(t);
}

static void test_same_txn_other_sender_is_distinct(void **state)
{
    recent_txn *t = recent_txn_new(16);
    uuid_bin alice = uuid(ALICE), bob = uuid(BOB);

    (void)state;
    recent_txn_put(t, &alice, "same", 1, 10);
    assert_false(has(t, &bob, "same"));
    recent_txn_put(t, &bob, "same", 2, 20);
    assert_true(holds(t, &alice, "same", 1, 10));
    assert_true(holds(t, &bob, "same", 2, 20));
    assert_int_equal(recent_txn_count(t), 2);
    recent_txn_free(t);
}

static void test_txn_prefix_is_distinct(void **state)
{
    recent_txn *t = recent_txn_new(16);
    uuid_bin alice = uuid(ALICE);

    (void)state;
    recent_txn_put(t, &alice, "abc", 1, 10);
    assert_false(has(t, &alice, "ab"));
    assert_false(has(t, &alice, "abcd"));
    recent_txn_free(t);
}

static void test_txn_of_64_chars_works(void **state)
{
    recent_txn *t = recent_txn_new(4);
    uuid_bin alice = uuid(ALICE);
    char txn[PAYLOAD_TXN_MAX + 1], other[PAYLOAD_TXN_MAX + 1];

    (void)state;
    repeat(txn, 'x', 64);
    recent_txn_put(t, &alice, txn, 7, 70);
    assert_true(holds(t, &alice, txn, 7, 70));
    /* Differs only in the last character. */
    repeat(other, 'x', 64);
    other[63] = 'y';
    assert_false(has(t, &alice, other));
    recent_txn_free(t);
}

static void test_txn_of_65_chars_refused_silently(void **state)
{
    recent_txn *t = recent_txn_new(4);
    uuid_bin alice = uuid(ALICE);
    char txn[PAYLOAD_TXN_MAX + 2], prefix[PAYLOAD_TXN_MAX + 1];

    (void)state;
    repeat(txn, 'x', 65);
    recent_txn_put(t, &alice, txn, 7, 70);
    assert_int_equal(recent_txn_count(t), 0);
    assert_false(has(t, &alice, txn));
    /* Not stored truncated to its first 64 characters either. */
    assert_false(has(t, &alice, repeat(prefix, 'x', 64)));
    recent_txn_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_refuses_zero_capacity),
        cmocka_unit_test(test_put_then_get_returns_stamp),
        cmocka_unit_test(test_second_put_keeps_first_stamp),
        cmocka_unit_test(test_full_table_evicts_oldest),
        cmocka_unit_test(test_repeated_put_does_not_take_a_slot),
        cmocka_unit_test(test_capacity_one_keeps_latest),
        cmocka_unit_test(test_same_txn_other_sender_is_distinct),
        cmocka_unit_test(test_txn_prefix_is_distinct),
        cmocka_unit_test(test_txn_of_64_chars_works),
        cmocka_unit_test(test_txn_of_65_chars_refused_silently),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
