/*
 * test_api_login_throttle.c - unit tests for httpapi/login_throttle.c with
 * an invented clock: a budget's burst and refill, the wait it announces,
 * all-or-nothing charging of several keys, giving back and forgetting,
 * eviction in a full table (bounded memory, fullest budget first), the
 * login policy (pair, address and username budgets; a stranger elsewhere
 * does not lock the user out; success clears the pair; usernames fold
 * case), registration per address, threads sharing one table, and the
 * client address text the keys use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "httpapi/login_throttle.h"
#include "httpapi/request.h"

#define SEC 1000 /* ms */

static int64_t take1(throttle_table *t, const char *key, throttle_budget b,
                     int64_t now)
{
    const char *k[1] = {key};

    return throttle_take(t, 1, k, &b, now);
}

static void test_burst_then_refill(void **state)
{
    throttle_table t;
    throttle_budget b = {3, 10 * SEC}; /* 3 at once, one more every 10 s */
    int64_t now = 1000000;

    (void)state;
    assert_int_equal(throttle_init(&t, 64, 42), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(take1(&t, "k", b, now), 0);
    /* Spent: the wait is exactly until one period has passed. */
    assert_int_equal(take1(&t, "k", b, now), 10 * SEC);
    assert_int_equal(take1(&t, "k", b, now + 4 * SEC), 6 * SEC);
    /* A refused event costs nothing: the wait does not grow. */
    assert_int_equal(take1(&t, "k", b, now + 4 * SEC), 6 * SEC);
    assert_int_equal(take1(&t, "k", b, now + 10 * SEC), 0);
    assert_true(take1(&t, "k", b, now + 10 * SEC) > 0);
    /* After burst periods of quiet the whole burst is back, no more. */
    now += 10 * SEC + 3 * 10 * SEC;
    for (int i = 0; i < 3; i++)
        assert_int_equal(take1(&t, "k", b, now), 0);
    assert_int_equal(take1(&t, "k", b, now), 10 * SEC);
    /* Other keys have their own budgets. */
    assert_int_equal(take1(&t, "other", b, now), 0);
    throttle_destroy(&t);
}

static void test_burst_zero_is_off(void **state)
{
    throttle_table t;
    throttle_budget off = {0, SEC};

    (void)state;
    assert_int_equal(throttle_init(&t, 64, 1), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(take1(&t, "k", off, 5), 0);
    throttle_destroy(&t);
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(throttle_retry_after(1), 1);
    assert_int_equal(throttle_retry_after(999), 1);
    assert_int_equal(throttle_retry_after(1000), 1);
    assert_int_equal(throttle_retry_after(1001), 2);
    assert_int_equal(throttle_retry_after(60 * SEC), 60);
    assert_int_equal(throttle_retry_after(0), 1);
}

static void test_all_or_nothing(void **state)
{
    throttle_table t;
    throttle_budget tight = {1, 10 * SEC}, loose = {100, SEC};
    const char *keys[2] = {"tight", "loose"};
    throttle_budget budgets[2] = {tight, loose};

    (void)state;
    assert_int_equal(throttle_init(&t, 64, 7), 0);
    assert_int_equal(throttle_take(&t, 2, keys, budgets, 0), 0);
    /* The tight key refuses; the loose one must not be charged. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(throttle_take(&t, 2, keys, budgets, 0), 10 * SEC);
    for (int i = 0; i < 99; i++)
        assert_int_equal(take1(&t, "loose", loose, 0), 0);
    assert_true(take1(&t, "loose", loose, 0) > 0);
    throttle_destroy(&t);
}

static void test_give_back_and_forget(void **state)
{
    throttle_table t;
    throttle_budget b = {2, 60 * SEC};
    const char *k[1] = {"k"};

    (void)state;
    assert_int_equal(throttle_init(&t, 64, 3), 0);
    assert_int_equal(take1(&t, "k", b, 0), 0);
    assert_int_equal(take1(&t, "k", b, 0), 0);
    assert_true(take1(&t, "k", b, 0) > 0);
    throttle_give_back(&t, 1, k, &b);
    assert_int_equal(take1(&t, "k", b, 0), 0);
    assert_true(take1(&t, "k", b, 0) > 0);
    throttle_forget(&t, "k");
    assert_int_equal(take1(&t, "k", b, 0), 0);
    assert_int_equal(take1(&t, "k", b, 0), 0);
    assert_true(take1(&t, "k", b, 0) > 0);
    /* Giving back or forgetting an unknown key changes nothing. */
    throttle_forget(&t, "nobody");
    k[0] = "nobody";
    throttle_give_back(&t, 1, k, &b);
    throttle_destroy(&t);
}

/* A table smaller than the number of keys: memory stays as allocated and
 * a key under pressure is evicted only after the keys whose budgets are
 * fuller. */
static void test_eviction_is_bounded_and_keeps_spent_keys(void **state)
{
    throttle_table t;
    throttle_budget b = {2, 3600 * SEC};
    char key[32];
    size_t slots;

    (void)state;
    assert_int_equal(throttle_init(&t, 8, 99), 0);
    slots = t.n_sets * 8;
    assert_int_equal(slots, 8); /* one set of eight */
    /* Spend "victim" entirely: its arrival time is the furthest ahead. */
    assert_int_equal(take1(&t, "victim", b, 0), 0);
    assert_int_equal(take1(&t, "victim", b, 0), 0);
    assert_true(take1(&t, "victim", b, 0) > 0);
    /* A flood of fresh keys, each charged once, cycles through the other
     * slots: "victim" is never the fullest budget, so it stays. */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "flood%d", i);
        assert_int_equal(take1(&t, key, b, i), 0);
    }
    assert_true(take1(&t, "victim", b, 1000) > 0);
    /* Nothing beyond the table was allocated: the slots are the same. */
    assert_int_equal(t.n_sets * 8, slots);
    throttle_destroy(&t);
}

static void test_capacity_rounds_up(void **state)
{
    throttle_table t;

    (void)state;
    assert_int_equal(throttle_init(&t, 100, 0), 0);
    assert_true(t.n_sets * 8 >= 100);
    assert_int_equal(t.n_sets & (t.n_sets - 1), 0);
    throttle_destroy(&t);
    throttle_destroy(&t); /* twice is harmless */
}

static const login_limits limits = {
    .pair = {3, 60 * SEC},
    .address = {10, 10 * SEC},
    .username = {20, 10 * SEC},
    .registration = {2, 30 * SEC},
};

/* Fails a login n times (each begun and left charged); returns how many
 * were let through to the password check. */
static int fail_logins(throttle_table *t, const char *addr, const char *user,
                       int n, int64_t now)
{
    int passed = 0;

    for (int i = 0; i < n; i++) {
        if (login_throttle_begin(t, &limits, addr, user, now) == 0)
            passed++;
    }
    return passed;
}

static void test_login_pair_budget(void **state)
{
    throttle_table t;
    int64_t wait;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 5), 0);
    assert_int_equal(fail_logins(&t, "192.0.2.1", "alice", 10, 0), 3);
    wait = login_throttle_begin(&t, &limits, "192.0.2.1", "alice", 0);
    assert_int_equal(wait, 60 * SEC);
    /* Usernames compare case-insensitively, so do their budgets. */
    assert_true(login_throttle_begin(&t, &limits, "192.0.2.1", "ALICE", 0) > 0);
    /* Alice herself, from her own address, is not locked out. */
    assert_int_equal(
        login_throttle_begin(&t, &limits, "198.51.100.7", "alice", 0), 0);
    login_throttle_succeeded(&t, &limits, "198.51.100.7", "alice");
    /* The stranger may try someone else (address budget not spent). */
    assert_int_equal(login_throttle_begin(&t, &limits, "192.0.2.1", "bob", 0),
                     0);
    /* After the wait, one more guess. */
    assert_int_equal(
        login_throttle_begin(&t, &limits, "192.0.2.1", "alice", 60 * SEC), 0);
    assert_true(
        login_throttle_begin(&t, &limits, "192.0.2.1", "alice", 60 * SEC) > 0);
    throttle_destroy(&t);
}

static void test_login_success_clears_the_pair(void **state)
{
    throttle_table t;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 6), 0);
    assert_int_equal(fail_logins(&t, "192.0.2.2", "carol", 2, 0), 2);
    assert_int_equal(login_throttle_begin(&t, &limits, "192.0.2.2", "carol", 0),
                     0);
    login_throttle_succeeded(&t, &limits, "192.0.2.2", "Carol");
    /* The full pair budget is back. */
    assert_int_equal(fail_logins(&t, "192.0.2.2", "carol", 3, 0), 3);
    assert_true(login_throttle_begin(&t, &limits, "192.0.2.2", "carol", 0) > 0);
    throttle_destroy(&t);
}

static void test_login_cancel_undoes_the_charge(void **state)
{
    throttle_table t;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 8), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(
            login_throttle_begin(&t, &limits, "192.0.2.3", "dave", 0), 0);
        login_throttle_cancel(&t, &limits, "192.0.2.3", "dave");
    }
    assert_int_equal(fail_logins(&t, "192.0.2.3", "dave", 3, 0), 3);
    throttle_destroy(&t);
}

static void test_login_address_budget(void **state)
{
    throttle_table t;
    char user[16];
    int passed = 0;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 9), 0);
    /* One address guessing one password for many usernames. */
    for (int i = 0; i < 30; i++) {
        snprintf(user, sizeof user, "user%d", i);
        passed += fail_logins(&t, "203.0.113.9", user, 1, 0);
    }
    assert_int_equal(passed, 10);
    /* Another address is unaffected. */
    assert_int_equal(
        login_throttle_begin(&t, &limits, "203.0.113.10", "user0", 0), 0);
    throttle_destroy(&t);
}

static void test_login_username_budget(void **state)
{
    throttle_table t;
    char addr[32];
    int passed = 0;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 10), 0);
    /* Many addresses guessing one account: the looser username budget. */
    for (int i = 0; i < 40; i++) {
        snprintf(addr, sizeof addr, "10.0.0.%d", i);
        passed += fail_logins(&t, addr, "erin", 1, 0);
    }
    assert_int_equal(passed, 20);
    /* Refills with time. */
    assert_int_equal(
        login_throttle_begin(&t, &limits, "10.9.9.9", "erin", 10 * SEC), 0);
    throttle_destroy(&t);
}

static void test_register_budget(void **state)
{
    throttle_table t;

    (void)state;
    assert_int_equal(throttle_init(&t, 1024, 11), 0);
    assert_int_equal(register_throttle_take(&t, &limits, "192.0.2.4", 0), 0);
    assert_int_equal(register_throttle_take(&t, &limits, "192.0.2.4", 0), 0);
    assert_int_equal(register_throttle_take(&t, &limits, "192.0.2.4", 0),
                     30 * SEC);
    assert_int_equal(register_throttle_take(&t, &limits, "192.0.2.5", 0), 0);
    /* Login failures and registrations are separate budgets. */
    assert_int_equal(login_throttle_begin(&t, &limits, "192.0.2.4", "frank", 0),
                     0);
    assert_int_equal(register_throttle_take(&t, &limits, "192.0.2.4", 30 * SEC),
                     0);
    throttle_destroy(&t);
}

typedef struct hammer_arg {
    throttle_table *t;
    int passed;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    throttle_budget b = {100, 3600 * SEC};

    for (int i = 0; i < 1000; i++) {
        if (take1(a->t, "shared", b, 0) == 0)
            a->passed++;
    }
    return NULL;
}

/* Threads sharing the table never let more through than the budget. */
static void test_threads_share_one_budget(void **state)
{
    throttle_table t;
    pthread_t th[4];
    hammer_arg args[4];
    int total = 0;

    (void)state;
    assert_int_equal(throttle_init(&t, 64, 12), 0);
    for (int i = 0; i < 4; i++) {
        args[i] = (hammer_arg){&t, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += args[i].passed;
    }
    assert_int_equal(total, 100);
    throttle_destroy(&t);
}

static void test_client_address_text(void **state)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    struct sockaddr other = {.sa_family = AF_UNIX};
    char out[THROTTLE_ADDR_MAX];

    (void)state;
    inet_pton(AF_INET, "192.0.2.33", &v4.sin_addr);
    assert_int_equal(client_address_text((struct sockaddr *)&v4, out), 0);
    assert_string_equal(out, "192.0.2.33");
    /* An IPv4 client on a dual-stack socket is the same client. */
    inet_pton(AF_INET6, "::ffff:192.0.2.33", &v6.sin6_addr);
    assert_int_equal(client_address_text((struct sockaddr *)&v6, out), 0);
    assert_string_equal(out, "192.0.2.33");
    /* IPv6 hosts are counted by their /64. */
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &v6.sin6_addr);
    assert_int_equal(client_address_text((struct sockaddr *)&v6, out), 0);
    assert_string_equal(out, "2001:db8:1:2::/64");
    inet_pton(AF_INET6, "2001:db8:1:2::1", &v6.sin6_addr);
    assert_int_equal(client_address_text((struct sockaddr *)&v6, out), 0);
    assert_string_equal(out, "2001:db8:1:2::/64");
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
              &v6.sin6_addr);
    assert_int_equal(client_address_text((struct sockaddr *)&v6, out), 0);
    assert_string_equal(out, "ffff:ffff:ffff:ffff::/64");
    assert_int_equal(client_address_text(&other, out), -1);
    assert_string_equal(out, "unknown");
    assert_int_equal(client_address_text(NULL, out), -1);
    assert_string_equal(out, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_burst_zero_is_off),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_give_back_and_forget),
        cmocka_unit_test(test_eviction_is_bounded_and_keeps_spent_keys),
        cmocka_unit_test(test_capacity_rounds_up),
        cmocka_unit_test(test_login_pair_budget),
        cmocka_unit_test(test_login_success_clears_the_pair),
        cmocka_unit_test(test_login_cancel_undoes_the_charge),
        cmocka_unit_test(test_login_address_budget),
        cmocka_unit_test(test_login_username_budget),
        cmocka_unit_test(test_register_budget),
        cmocka_unit_test(test_threads_share_one_budget),
        cmocka_unit_test(test_client_address_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
