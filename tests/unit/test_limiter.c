/*
 * test_limiter.c - unit tests for plugin/limiter.c, the token buckets behind
 * the per-user message rate and the typing-notice limit: a fresh key's
 * burst, refill at the rate (never early, never above the burst), keys
 * kept apart, the typing shape (one notice per 2 s), refused arguments, a
 * clock that goes backwards, pruning of idle buckets and the truncation of
 * long keys.
 *
 * The limiter takes the clock as an argument, so every test drives time by
 * hand in milliseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plugin/limiter.h"

#define KEY_A "user-a"
#define KEY_B "user-b"

/* Takes from the bucket of a string key. */
static bool take(limiter *l, const char *key, int64_t now_ms)
{
    return limiter_take(l, key, strlen(key), now_ms);
}

/* Takes until refused (at most limit times) and returns how many were
 * granted. */
static unsigned drain(limiter *l, const char *key, int64_t now_ms,
                      unsigned limit)
{
    unsigned n = 0;

    while (n < limit && take(l, key, now_ms))
        n++;
    return n;
}

/* ---- limiter_new ------------------------------------------------------ */

static void test_new_refuses_bad_arguments(void **state)
{
    static const double bad_rates[] = {0.0, -0.0, -1.0, -1e-9, NAN, -INFINITY};
    static const double bad_bursts[] = {0.0, 0.999, -1.0, NAN, -INFINITY};

    (void)state;
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        if (limiter_new(bad_rates[i], 10) != NULL)
            fail_msg("rate %g should be refused", bad_rates[i]);
    }
    for (size_t i = 0; i < sizeof bad_bursts / sizeof bad_bursts[0]; i++) {
        if (limiter_new(10, bad_bursts[i]) != NULL)
            fail_msg("burst %g should be refused", bad_bursts[i]);
    }
}

static void test_new_accepts_smallest_shapes(void **state)
{
    limiter *l;

    (void)state;
    /* A slow rate and a burst of exactly one are valid. */
    l = limiter_new(1e-6, 1);
    assert_non_null(l);
    assert_int_equal(limiter_count(l), 0);
    limiter_free(l);
    l = limiter_new(0.5, 1);
    assert_non_null(l);
    limiter_free(l);
    limiter_free(NULL);
}

/* ---- burst and refill ------------------------------------------------- */

static void test_fresh_key_gets_burst_then_refused(void **state)
{
    limiter *l = limiter_new(1, 5);

    (void)state;
    assert_non_null(l);
    /* All at once: the bucket starts full, not empty. */
    for (int i = 0; i < 5; i++)
        assert_true(take(l, KEY_A, 1000));
    assert_false(take(l, KEY_A, 1000));
    assert_false(take(l, KEY_A, 1000));
    assert_int_equal(limiter_count(l), 1);
    limiter_free(l);
}

static void test_refills_at_the_rate(void **state)
{
    limiter *l = limiter_new(2, 3); /* one token every 500 ms */

    (void)state;
    assert_non_null(l);
    assert_int_equal(drain(l, KEY_A, 0, 10), 3);
    assert_false(take(l, KEY_A, 250));
    assert_false(take(l, KEY_A, 499));
    assert_true(take(l, KEY_A, 500));
    assert_false(take(l, KEY_A, 500));
    assert_false(take(l, KEY_A, 999));
    assert_true(take(l, KEY_A, 1000));
    /* A second's wait gives two. */
    assert_int_equal(drain(l, KEY_A, 2000, 10), 2);
    /* 750 ms gives one and a half: one now, the half is kept. */
    assert_int_equal(drain(l, KEY_A, 2750, 10), 1);
    assert_false(take(l, KEY_A, 2999));
    assert_true(take(l, KEY_A, 3000));
    limiter_free(l);
}

static void test_refused_takes_do_not_delay_refill(void **state)
{
    limiter *l = limiter_new(2, 1);
    int granted = 0;

    (void)state;
    assert_non_null(l);
    /* Asking every 100 ms for 5 s: a refusal costs nothing, so exactly
     * one is granted per 500 ms (at 0, 500, ..., 5000). */
    for (int64_t t = 0; t <= 5000; t += 100)
        granted += take(l, KEY_A, t);
    assert_int_equal(granted, 11);
    limiter_free(l);
}

static void test_fine_polling_gives_no_early_token(void **state)
{
    static const struct {
        double rate;
        int64_t period_ms;
    } shapes[] = {{0.5, 2000}, {2, 500}, {20, 50}, {3, 334}};

    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        limiter *l = limiter_new(shapes[i].rate, 1);
        int64_t t;

        assert_non_null(l);
        assert_true(take(l, KEY_A, 0));
        for (t = 1; t < 10 * shapes[i].period_ms; t++) {
            if (take(l, KEY_A, t))
                break;
        }
        /* Asked every millisecond, the next token comes no earlier than
         * the rate allows; the fractions added each millisecond may round
         * it at most one millisecond late. */
        if (t < shapes[i].period_ms || t > shapes[i].period_ms + 1)
            fail_msg("rate %g/s: next token at %lld ms, expected %lld",
                     shapes[i].rate, (long long)t,
                     (long long)shapes[i].period_ms);
        limiter_free(l);
    }
}

static void test_never_above_burst_after_long_idle(void **state)
{
    limiter *l = limiter_new(10, 3);

    (void)state;
    assert_non_null(l);
    assert_int_equal(drain(l, KEY_A, 0, 100), 3);
    /* An hour at 10/s would be 36,000 tokens; the bucket holds 3. */
    assert_int_equal(drain(l, KEY_A, 3600 * 1000, 100), 3);
    /* A day later still 3, and a brand new key too. */
    assert_int_equal(drain(l, KEY_A, 86400 * 1000LL, 100), 3);
    assert_int_equal(drain(l, KEY_B, 86400 * 1000LL, 100), 3);
    limiter_free(l);
}

static void test_keys_are_independent(void **state)
{
    limiter *l = limiter_new(1, 2);
    char copy[] = KEY_A;

    (void)state;
    assert_non_null(l);
    assert_int_equal(drain(l, KEY_A, 0, 10), 2);
    /* Another key, one that differs by one byte, and a prefix of the
     * first: each has its own full bucket. */
    assert_int_equal(drain(l, KEY_B, 0, 10), 2);
    assert_int_equal(drain(l, "user-c", 0, 10), 2);
    assert_int_equal(drain(l, "user", 0, 10), 2);
    assert_int_equal(limiter_count(l), 4);
    /* The key is compared by content, not by address. */
    assert_false(take(l, copy, 0));
    assert_int_equal(limiter_count(l), 4);
    /* Refill of one key does not leak to the others. */
    assert_true(take(l, KEY_A, 1000));
    assert_true(take(l, KEY_B, 1000));
    assert_false(take(l, KEY_A, 1000));
    limiter_free(l);
}

static void test_typing_shape_one_per_two_seconds(void **state)
{
    /* The typing limiter's key: (user, conversation), two uuids, exactly
     * LIMITER_KEY_MAX bytes. */
    unsigned char key[2][16];
    unsigned char other_conv[2][16];
    limiter *l = limiter_new(0.5, 1);
    int granted = 0;

    (void)state;
    assert_non_null(l);
    memset(key, 0xaa, sizeof key);
    memset(other_conv, 0xaa, sizeof other_conv);
    other_conv[1][15] = 0xbb;
    assert_int_equal(sizeof key, LIMITER_KEY_MAX);

    assert_true(limiter_take(l, key, sizeof key, 10000));
    assert_false(limiter_take(l, key, sizeof key, 10500));
    assert_false(limiter_take(l, key, sizeof key, 11999));
    /* The same user typing in another conversation is not limited. */
    assert_true(limiter_take(l, other_conv, sizeof other_conv, 11999));
    assert_true(limiter_take(l, key, sizeof key, 12000));
    assert_false(limiter_take(l, key, sizeof key, 13999));
    assert_true(limiter_take(l, key, sizeof key, 14000));
    /* No burst after a pause: one notice, then the wait again. */
    assert_true(limiter_take(l, key, sizeof key, 60000));
    assert_false(limiter_take(l, key, sizeof key, 60000));
    assert_false(limiter_take(l, key, sizeof key, 61999));
    limiter_free(l);

    /* A client sending a notice every 250 ms for 20 s gets one through
     * every 2 s: at 0, 2000, ..., 20000. */
    l = limiter_new(0.5, 1);
    assert_non_null(l);
    for (int64_t t = 0; t <= 20000; t += 250)
        granted += limiter_take(l, key, sizeof key, t);
    assert_int_equal(granted, 11);
    limiter_free(l);
}

/* ---- clock going backwards -------------------------------------------- */

static void test_clock_backwards_adds_no_tokens(void **state)
{
    limiter *l = limiter_new(2, 2);

    (void)state;
    assert_non_null(l);
    assert_int_equal(drain(l, KEY_A, 10000, 10), 2);
    /* The clock steps back 5 s, to zero and below: nothing is added. */
    assert_false(take(l, KEY_A, 5000));
    assert_false(take(l, KEY_A, 0));
    assert_false(take(l, KEY_A, -1000));
    assert_false(take(l, KEY_A, INT64_MIN / 2));
    /* Nor when it comes back: refill counts from the latest time seen
     * (10 s), not from the earlier readings, so at 10.5 s there is one
     * token, not a full bucket. */
    assert_false(take(l, KEY_A, 10499));
    assert_true(take(l, KEY_A, 10500));
    assert_false(take(l, KEY_A, 10500));
    /* A key first seen while the clock is behind works as usual. */
    assert_int_equal(drain(l, KEY_B, 3000, 10), 2);
    assert_true(take(l, KEY_B, 3500));
    limiter_free(l);
}

static void test_clock_backwards_then_prune_keeps_empty_bucket(void **state)
{
    limiter *l = limiter_new(1, 1);

    (void)state;
    assert_non_null(l);
    assert_true(take(l, KEY_A, 10000));
    assert_int_equal(limiter_prune(l, 0), 0);
    assert_int_equal(limiter_count(l), 1);
    /* Had the prune dropped it, the key would be full again. */
    assert_false(take(l, KEY_A, 10999));
    assert_true(take(l, KEY_A, 11000));
    limiter_free(l);
}

/* ---- limiter_prune ---------------------------------------------------- */

static void test_prune_drops_full_idle_and_keeps_refilling(void **state)
{
    limiter *l = limiter_new(1, 2);

    (void)state;
    assert_non_null(l);
    assert_int_equal(limiter_prune(l, 0), 0); /* empty table */

    assert_true(take(l, KEY_A, 0));                    /* 1 of 2 left */
    assert_int_equal(drain(l, KEY_B, 0, 10), 2);       /* 0 of 2 left */
    assert_int_equal(drain(l, "user-c", 1000, 10), 2); /* 0 of 2 left */
    assert_int_equal(limiter_count(l), 3);

    /* At 1 s: A is full again (dropped), B has one of two and C none
     * (both kept). */
    assert_int_equal(limiter_prune(l, 1000), 1);
    assert_int_equal(limiter_count(l), 2);
    /* The buckets kept still hold what they held: B one token, C none. */
    assert_true(take(l, KEY_B, 1000));
    assert_false(take(l, KEY_B, 1000));
    assert_false(take(l, "user-c", 1000));
    /* A dropped key comes back full. */
    assert_int_equal(drain(l, KEY_A, 1000, 10), 2);
    assert_int_equal(limiter_count(l), 3);

    /* At 2.999 s nothing is full yet; at 3 s all three are. */
    assert_int_equal(limiter_prune(l, 2999), 0);
    assert_int_equal(limiter_count(l), 3);
    assert_int_equal(limiter_prune(l, 3000), 3);
    assert_int_equal(limiter_count(l), 0);
    limiter_free(l);
}

static void test_prune_does_not_change_verdicts(void **state)
{
    limiter *a = limiter_new(2, 3);
    limiter *b = limiter_new(2, 3);
    int granted = 0;

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    /* The same traffic through two limiters, one pruned every 125 ms:
     * every verdict is the same.  (125 ms at 2/s is a quarter token, a
     * step that adds up exactly in floating point; see
     * test_fine_polling_gives_no_early_token for steps that do not.) */
    for (int64_t t = 0; t < 10000; t += 125) {
        int step = (int)(t / 125);
        const char *key = step % 3 == 0 ? KEY_A : KEY_B;
        for (int i = 0; i < step % 4; i++) {
            bool unpruned = take(a, key, t);
            if (take(b, key, t) != unpruned)
                fail_msg("at %lld ms the pruned limiter disagrees",
                         (long long)t);
            granted += unpruned;
        }
        limiter_prune(b, t);
    }
    /* Some were refused, so the buckets were not simply always full. */
    assert_true(granted > 0 && granted < 120);
    limiter_free(a);
    limiter_free(b);
}

/* ---- long keys -------------------------------------------------------- */

static void test_long_keys_truncated_consistently(void **state)
{
    enum { LONG = LIMITER_KEY_MAX + 8 };
    unsigned char k1[LONG], k2[LONG], k3[LONG];
    limiter *l = limiter_new(1, 1);

    (void)state;
    assert_non_null(l);
    memset(k1, 'k', sizeof k1);
    memcpy(k2, k1, sizeof k2);
    k2[LONG - 1] = 'x'; /* differs only past LIMITER_KEY_MAX */
    memcpy(k3, k1, sizeof k3);
    k3[LIMITER_KEY_MAX - 1] = 'x'; /* differs in the last byte kept */

    assert_true(limiter_take(l, k1, sizeof k1, 0));
    assert_false(limiter_take(l, k1, sizeof k1, 0)); /* same key, same bucket */
    /* Only the first LIMITER_KEY_MAX bytes count: k2 and the k1 prefix of
     * exactly that length share k1's bucket. */
    assert_false(limiter_take(l, k2, sizeof k2, 0));
    assert_false(limiter_take(l, k1, LIMITER_KEY_MAX, 0));
    assert_false(limiter_take(l, k1, LIMITER_KEY_MAX + 1, 0));
    assert_int_equal(limiter_count(l), 1);
    /* A difference inside the first LIMITER_KEY_MAX bytes is another key. */
    assert_true(limiter_take(l, k3, sizeof k3, 0));
    assert_true(limiter_take(l, k1, LIMITER_KEY_MAX - 1, 0));
    assert_int_equal(limiter_count(l), 3);
    /* And the shared bucket refills once, for all its spellings. */
    assert_true(limiter_take(l, k2, sizeof k2, 1000));
    assert_false(limiter_take(l, k1, sizeof k1, 1000));
    limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_refuses_bad_arguments),
        cmocka_unit_test(test_new_accepts_smallest_shapes),
        cmocka_unit_test(test_fresh_key_gets_burst_then_refused),
        cmocka_unit_test(test_refills_at_the_rate),
        cmocka_unit_test(test_refused_takes_do_not_delay_refill),
        cmocka_unit_test(test_fine_polling_gives_no_early_token),
        cmocka_unit_test(test_never_above_burst_after_long_idle),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_typing_shape_one_per_two_seconds),
        cmocka_unit_test(test_clock_backwards_adds_no_tokens),
        cmocka_unit_test(test_clock_backwards_then_prune_keeps_empty_bucket),
        cmocka_unit_test(test_prune_drops_full_idle_and_keeps_refilling),
        cmocka_unit_test(test_prune_does_not_change_verdicts),
        cmocka_unit_test(test_long_keys_truncated_consistently),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
