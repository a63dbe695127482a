/*
 * test_sub_ledger.c - unit tests for plugin/sub_ledger.c, the filters the
 * broker holds per client id: a first SUBSCRIBE is new and a second one a
 * repeat; an UNSUBSCRIBE makes the next SUBSCRIBE new again; client ids are
 * kept apart; a broker that reports no subscriptions for the client (a
 * clean or expired session) clears what was recorded; a forgotten session
 * starts over; the least recently used client id goes when the ledger is
 * full, and client ids idle for long are pruned; many filters per client
 * stay sorted and exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "plugin/sub_ledger.h"

#define PHONE "11111111-1111-4111-8111-111111111111:phone"
#define LAPTOP "11111111-1111-4111-8111-111111111111:laptop"
#define INBOX "user/11111111-1111-4111-8111-111111111111/inbox"
#define ROOM "conv/22222222-2222-4222-8222-222222222222/#"
#define T 1000 /* a clock reading, in milliseconds */
#define DAY (24 * 3600 * 1000LL)

static void test_second_subscribe_is_a_repeat(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 0, INBOX, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 1, INBOX, T), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 1, INBOX, T), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 1, ROOM, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_filters(l, PHONE), 2);
    sub_ledger_free(l);
}

static void test_unsubscribe_makes_the_next_subscribe_new(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    sub_ledger_subscribe(l, PHONE, 0, INBOX, T);
    sub_ledger_subscribe(l, PHONE, 1, ROOM, T);
    sub_ledger_unsubscribe(l, PHONE, INBOX, T);
    assert_int_equal(sub_ledger_filters(l, PHONE), 1);
    /* The broker's slot count does not shrink on UNSUBSCRIBE. */
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, INBOX, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, ROOM, T), SUB_LEDGER_REPEAT);
    /* Unsubscribing what is not held changes nothing. */
    sub_ledger_unsubscribe(l, PHONE, "conv/x/m", T);
    sub_ledger_unsubscribe(l, LAPTOP, INBOX, T);
    assert_int_equal(sub_ledger_filters(l, PHONE), 2);
    sub_ledger_free(l);
}

static void test_last_unsubscribe_drops_the_client(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    sub_ledger_subscribe(l, PHONE, 0, INBOX, T);
    assert_int_equal(sub_ledger_clients(l), 1);
    sub_ledger_unsubscribe(l, PHONE, INBOX, T);
    assert_int_equal(sub_ledger_clients(l), 0);
    sub_ledger_free(l);
}

static void test_client_ids_are_kept_apart(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    sub_ledger_subscribe(l, PHONE, 0, INBOX, T);
    assert_int_equal(sub_ledger_subscribe(l, LAPTOP, 0, INBOX, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_subscribe(l, LAPTOP, 1, INBOX, T), SUB_LEDGER_REPEAT);
    sub_ledger_forget(l, LAPTOP);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 1, INBOX, T), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_clients(l), 1);
    sub_ledger_free(l);
}

static void test_broker_holding_nothing_clears_the_record(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    sub_ledger_subscribe(l, PHONE, 0, INBOX, T);
    sub_ledger_subscribe(l, PHONE, 1, ROOM, T);
    /* The device came back with a clean session (or its session expired):
     * the broker holds nothing, so neither filter is a repeat. */
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 0, ROOM, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_filters(l, PHONE), 1);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 1, INBOX, T), SUB_LEDGER_NEW);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, ROOM, T), SUB_LEDGER_REPEAT);
    sub_ledger_free(l);
}

static void test_persistent_session_keeps_its_filters(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    /* Nothing is forgotten when a persistent session's device disconnects;
     * back, with the broker still holding both, re-subscribing repeats. */
    sub_ledger_subscribe(l, PHONE, 0, INBOX, T);
    sub_ledger_subscribe(l, PHONE, 1, ROOM, T);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, INBOX, T), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, ROOM, T), SUB_LEDGER_REPEAT);
    sub_ledger_forget(l, PHONE);
    assert_int_equal(sub_ledger_subscribe(l, PHONE, 2, ROOM, T), SUB_LEDGER_NEW);
    sub_ledger_free(l);
}

static void test_full_ledger_forgets_the_oldest_client(void **state)
{
    sub_ledger *l = sub_ledger_new(2, 100000);

    (void)state;
    sub_ledger_subscribe(l, "a:1", 0, INBOX, T);
    sub_ledger_subscribe(l, "b:1", 0, INBOX, T);
    sub_ledger_subscribe(l, "c:1", 0, INBOX, T);
    assert_int_equal(sub_ledger_clients(l), 2);
    assert_int_equal(sub_ledger_filters(l, "a:1"), 0);
    assert_int_equal(sub_ledger_subscribe(l, "b:1", 1, INBOX, T), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_subscribe(l, "c:1", 1, INBOX, T), SUB_LEDGER_REPEAT);
    sub_ledger_free(l);
}

static void test_full_ledger_forgets_the_least_recently_used(void **state)
{
    sub_ledger *l = sub_ledger_new(2, 100000);

    (void)state;
    sub_ledger_subscribe(l, "a:1", 0, INBOX, 1);
    sub_ledger_subscribe(l, "b:1", 0, INBOX, 2);
    sub_ledger_subscribe(l, "a:1", 1, ROOM, 3); /* a is used again */
    sub_ledger_subscribe(l, "c:1", 0, INBOX, 4);
    assert_int_equal(sub_ledger_filters(l, "b:1"), 0);
    assert_int_equal(sub_ledger_filters(l, "a:1"), 2);
    assert_int_equal(sub_ledger_filters(l, "c:1"), 1);
    sub_ledger_free(l);
}

static void test_filter_bound_forgets_the_least_recently_used(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 4);

    (void)state;
    sub_ledger_subscribe(l, "a:1", 0, INBOX, 1);
    sub_ledger_subscribe(l, "a:1", 1, ROOM, 1);
    sub_ledger_subscribe(l, "b:1", 0, INBOX, 2);
    sub_ledger_subscribe(l, "c:1", 0, INBOX, 3);
    assert_int_equal(sub_ledger_total(l), 4);
    sub_ledger_subscribe(l, "c:1", 1, ROOM, 4); /* five: a goes */
    assert_int_equal(sub_ledger_clients(l), 2);
    assert_int_equal(sub_ledger_total(l), 3);
    assert_int_equal(sub_ledger_filters(l, "a:1"), 0);
    /* One client alone beyond the bound keeps what it has. */
    for (int i = 0; i < 6; i++) {
        char f[32];
        snprintf(f, sizeof f, "conv/%d/#", i);
        sub_ledger_subscribe(l, "d:1", 1, f, 5);
    }
    assert_int_equal(sub_ledger_clients(l), 1);
    assert_int_equal(sub_ledger_total(l), 6);
    sub_ledger_unsubscribe(l, "d:1", "conv/0/#", 6);
    sub_ledger_subscribe(l, "d:1", 0, INBOX, 7); /* the broker holds none */
    assert_int_equal(sub_ledger_total(l), 1);
    sub_ledger_free(l);
}

static void test_prune_drops_only_idle_client_ids(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);

    (void)state;
    sub_ledger_subscribe(l, "a:1", 0, INBOX, 0);
    sub_ledger_subscribe(l, "b:1", 0, INBOX, 0);
    sub_ledger_subscribe(l, "c:1", 0, INBOX, DAY / 2);
    sub_ledger_unsubscribe(l, "b:1", "conv/x/m", DAY / 2); /* b is used */
    assert_int_equal(sub_ledger_prune(l, DAY - 1, DAY), 0);
    assert_int_equal(sub_ledger_prune(l, DAY, DAY), 1);
    assert_int_equal(sub_ledger_filters(l, "a:1"), 0);
    assert_int_equal(sub_ledger_subscribe(l, "b:1", 1, INBOX, DAY), SUB_LEDGER_REPEAT);
    assert_int_equal(sub_ledger_prune(l, DAY + DAY / 2, DAY), 1);
    assert_int_equal(sub_ledger_clients(l), 1);
    assert_int_equal(sub_ledger_filters(l, "b:1"), 1);
    sub_ledger_free(l);
}

static void test_many_filters_stay_exact(void **state)
{
    sub_ledger *l = sub_ledger_new(10, 100000);
    char filter[64];

    (void)state;
    for (int i = 0; i < 2000; i++) {
        snprintf(filter, sizeof filter, "conv/%08d/#", (i * 7919) % 2000);
        assert_int_equal(sub_ledger_subscribe(l, PHONE, i, filter, T), SUB_LEDGER_NEW);
    }
    assert_int_equal(sub_ledger_filters(l, PHONE), 2000);
    for (int i = 0; i < 2000; i += 2) {
        snprintf(filter, sizeof filter, "conv/%08d/#", i);
        sub_ledger_unsubscribe(l, PHONE, filter, T);
    }
    assert_int_equal(sub_ledger_filters(l, PHONE), 1000);
    for (int i = 0; i < 2000; i++) {
        snprintf(filter, sizeof filter, "conv/%08d/#", i);
        assert_int_equal(sub_ledger_subscribe(l, PHONE, 2000, filter, T),
                         i % 2 ? SUB_LEDGER_REPEAT : SUB_LEDGER_NEW);
    }
    sub_ledger_free(l);
}

static void test_new_refuses_an_empty_ledger(void **state)
{
    (void)state;
    assert_null(sub_ledger_new(0, 100000));
    sub_ledger_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_subscribe_is_a_repeat),
        cmocka_unit_test(test_unsubscribe_makes_the_next_subscribe_new),
        cmocka_unit_test(test_last_unsubscribe_drops_the_client),
        cmocka_unit_test(test_client_ids_are_kept_apart),
        cmocka_unit_test(test_broker_holding_nothing_clears_the_record),
        cmocka_unit_test(test_persistent_session_keeps_its_filters),
        cmocka_unit_test(test_full_ledger_forgets_the_oldest_client),
        cmocka_unit_test(test_full_ledger_forgets_the_least_recently_used),
        cmocka_unit_test(test_filter_bound_forgets_the_least_recently_used),
        cmocka_unit_test(test_prune_drops_only_idle_client_ids),
        cmocka_unit_test(test_many_filters_stay_exact),
        cmocka_unit_test(test_new_refuses_an_empty_ledger),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
