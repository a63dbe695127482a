/*
 * test_recent_txn.c - unit tests for plugin/recent_txn.c, the bounded table
 * that lets a resent (sender, txn) be stamped with its first id and time:
 * put then get, the first stamp kept on a second put, eviction of the oldest
 * entry when full, senders kept apart, the 64-character txn limit, keys
 * whose hashes collide (found by the full key only, and evicted without
 * losing their neighbours), and random use against a model of the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
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

/* Every key hashing alike: found by the full key only. */
static void test_colliding_hashes_never_match_other_keys(void **state)
{
    recent_txn *t = recent_txn_new_for_test(8, 1, true);
    uuid_bin alice = uuid(ALICE), bob = uuid(BOB);

    (void)state;
    assert_non_null(t);
    recent_txn_put(t, &alice, "t1", 1, 10);
    recent_txn_put(t, &alice, "t2", 2, 20);
    recent_txn_put(t, &bob, "t1", 3, 30);
    assert_true(holds(t, &alice, "t1", 1, 10));
    assert_true(holds(t, &alice, "t2", 2, 20));
    assert_true(holds(t, &bob, "t1", 3, 30));
    assert_false(has(t, &bob, "t2"));
    assert_false(has(t, &alice, "t"));
    assert_false(has(t, &alice, "t10"));
    assert_false(has(t, &alice, ""));
    recent_txn_put(t, &alice, "t2", 9, 90); /* a resend: first stamp stays */
    assert_true(holds(t, &alice, "t2", 2, 20));
    assert_int_equal(recent_txn_count(t), 3);
    recent_txn_free(t);
}

/* Eviction out of a run of colliding slots keeps the rest reachable. */
static void test_eviction_inside_a_collision_run(void **state)
{
    recent_txn *t = recent_txn_new_for_test(4, 1, true);
    uuid_bin alice = uuid(ALICE);
    char txn[8];

    (void)state;
    for (int i = 0; i < 40; i++) {
        snprintf(txn, sizeof txn, "t%d", i);
        recent_txn_put(t, &alice, txn, (uint64_t)i, i * 10);
        assert_int_equal(recent_txn_count(t), i < 4 ? i + 1 : 4);
        for (int k = 0; k <= i; k++) {
            snprintf(txn, sizeof txn, "t%d", k);
            if (k > i - 4)
                assert_true(holds(t, &alice, txn, (uint64_t)k, k * 10));
            else
                assert_false(has(t, &alice, txn));
        }
    }
    recent_txn_free(t);
}

/* A model of the table: the last capacity distinct keys put, in order. */
typedef struct model_entry {
    int sender, txn;
    uint64_t id;
} model_entry;

static int model_find(const model_entry *m, size_t n, int sender, int txn)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].sender == sender && m[i].txn == txn)
            return (int)i;
    }
    return -1;
}

/* Random puts and gets over a small key space agree with the model, for
 * several capacities, with real and with colliding hashes. */
static void test_matches_model_under_random_use(void **state)
{
    static const size_t capacities[] = {1, 2, 3, 7, 64};
    uuid_bin senders[3] = {uuid(ALICE), uuid(BOB), uuid(ALICE)};
    uint32_t rng = 12345;

    (void)state;
    senders[2].b[15] ^= 1; /* differs from alice in the last byte only */
    for (size_t c = 0; c < sizeof capacities / sizeof capacities[0]; c++) {
        for (int collide = 0; collide < 2; collide++) {
            size_t cap = capacities[c], n = 0;
            model_entry model[64];
            recent_txn *t = recent_txn_new_for_test(cap, 7 + c, collide);
            assert_non_null(t);
            for (int step = 0; step < 4000; step++) {
                int sender, txn, at;
                char name[16];
                uint64_t id;
                int64_t ts;
                rng = rng * 1103515245u + 12345u;
                sender = (int)((rng >> 8) % 3);
                txn = (int)((rng >> 12) % (cap * 3 + 2));
                snprintf(name, sizeof name, "x%d", txn);
                at = model_find(model, n, sender, txn);
                if ((rng >> 20) & 1) {
                    bool got = recent_txn_get(t, &senders[sender], name, &id,
                                              &ts);
                    assert_int_equal(got, at >= 0);
                    if (got) {
                        assert_int_equal(id, model[at].id);
                        assert_int_equal(ts, (int64_t)model[at].id * 2);
                    }
                    continue;
                }
                recent_txn_put(t, &senders[sender], name, (uint64_t)step,
                               (int64_t)step * 2);
                if (at >= 0)
                    continue;
                if (n == cap) {
                    memmove(model, model + 1, (n - 1) * sizeof *model);
                    n--;
                }
                model[n].sender = sender;
                model[n].txn = txn;
                model[n].id = (uint64_t)step;
                n++;
                assert_int_equal(recent_txn_count(t), n);
            }
            recent_txn_free(t);
        }
    }
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
        cmocka_unit_test(test_colliding_hashes_never_match_other_keys),
        cmocka_unit_test(test_eviction_inside_a_collision_run),
        cmocka_unit_test(test_matches_model_under_random_use),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
