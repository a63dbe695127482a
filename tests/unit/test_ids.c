/*
 * test_ids.c - unit tests for common/ids.c: node ids must fit their 10 bits;
 * ids from one minter strictly increase however the clock behaves (a burst
 * within one millisecond, sequence exhaustion, a clock stepping back, real
 * time); minters with different nodes never collide; node and time can be
 * read back; ids fit a positive int64; id_parse takes only canonical
 * decimal strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"

/* 2025-06-15T12:00:00Z in unix milliseconds: any fixed time after the epoch. */
#define T0 1749988800000ULL
#define BURST 100000

static void test_init_refuses_node_over_10_bits(void **state)
{
    id_minter m;

    (void)state;
    assert_int_equal(id_minter_init(&m, 0), 0);
    assert_int_equal(id_minter_init(&m, PARLEY_ID_NODE_MAX), 0);
    assert_int_equal(id_minter_init(&m, 1023), 0);
    assert_int_equal(id_minter_init(&m, 1024), -1);
    assert_int_equal(id_minter_init(&m, UINT32_MAX), -1);
}

static void test_burst_in_one_ms_strictly_increasing(void **state)
{
    id_minter m;
    uint64_t prev = 0, id = 0;

    (void)state;
    assert_int_equal(id_minter_init(&m, 7), 0);
    for (int i = 0; i < BURST; i++) {
        id = id_minter_next(&m, T0);
        assert_true(id > prev);
        assert_int_equal(id_node(id), 7);
        prev = id;
    }
    /* 100,000 ids at 4096 per ms: the minter has borrowed about 24 ms. */
    assert_int_equal(id_unix_ms(id), T0 + (BURST - 1) / 4096);
}

static void test_sequence_overflow_borrows_next_ms(void **state)
{
    id_minter m;
    uint64_t id = 0;

    (void)state;
    assert_int_equal(id_minter_init(&m, 3), 0);
    for (unsigned i = 0; i <= PARLEY_ID_SEQ_MAX; i++) {
        id = id_minter_next(&m, T0);
        assert_int_equal(id_unix_ms(id), T0);
    }
    /* The 4097th id in the same millisecond is stamped with the next one. */
    id = id_minter_next(&m, T0);
    assert_int_equal(id_unix_ms(id), T0 + 1);
    /* When the real clock reaches the borrowed ms, ids keep increasing. */
    assert_true(id_minter_next(&m, T0 + 1) > id);
}

static void test_clock_stepping_back_still_increasing(void **state)
{
    id_minter m;
    uint64_t prev = 0, id;

    (void)state;
    assert_int_equal(id_minter_init(&m, 1), 0);
    prev = id_minter_next(&m, T0 + 10000);
    /* The clock steps back 10 s (NTP correction), then creeps forward. */
    for (uint64_t t = T0; t < T0 + 20000; t += 3) {
        id = id_minter_next(&m, t);
        assert_true(id > prev);
        prev = id;
    }
    /* And a step back past the epoch itself. */
    id = id_minter_next(&m, 0);
    assert_true(id > prev);
}

static void test_clock_stepping_back_with_burst_still_increasing(void **state)
{
    id_minter m;
    uint64_t prev, id;

    (void)state;
    assert_int_equal(id_minter_init(&m, 1), 0);
    prev = id_minter_next(&m, T0 + 5);
    for (int i = 0; i < BURST; i++) {
        id = id_minter_next(&m, T0 + (uint64_t)(i % 7)); /* jitters back */
        assert_true(id > prev);
        prev = id;
    }
}

static uint64_t real_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_real_time_strictly_increasing(void **state)
{
    id_minter m;
    uint64_t prev = 0, id;

    (void)state;
    assert_int_equal(id_minter_init(&m, 42), 0);
    for (int i = 0; i < BURST; i++) {
        id = id_minter_next(&m, real_now_ms());
        assert_true(id > prev);
        assert_int_equal(id_node(id), 42);
        prev = id;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void test_two_nodes_never_collide(void **state)
{
    id_minter a, b;
    uint64_t *all = calloc(2 * BURST, sizeof *all);

    (void)state;
    assert_non_null(all);
    assert_int_equal(id_minter_init(&a, 1), 0);
    assert_int_equal(id_minter_init(&b, 2), 0);
    /* Same clock for both, including a burst that exhausts sequences. */
    for (int i = 0; i < BURST; i++) {
        uint64_t t = T0 + (uint64_t)(i / 1000);
        all[2 * i] = id_minter_next(&a, t);
        all[2 * i + 1] = id_minter_next(&b, t);
    }
    qsort(all, 2 * BURST, sizeof *all, cmp_u64);
    for (int i = 1; i < 2 * BURST; i++)
        assert_true(all[i - 1] != all[i]);
    free(all);
}

static void test_node_and_time_recovered(void **state)
{
    static const uint32_t nodes[] = {0, 1, 512, PARLEY_ID_NODE_MAX};
    static const uint64_t times[] = {PARLEY_ID_EPOCH_MS + 1, T0,
                                     T0 + 86400000ULL * 365 * 30};
    id_minter m;

    (void)state;
    for (size_t n = 0; n < sizeof nodes / sizeof nodes[0]; n++) {
        for (size_t t = 0; t < sizeof times / sizeof times[0]; t++) {
            assert_int_equal(id_minter_init(&m, nodes[n]), 0);
            uint64_t id = id_minter_next(&m, times[t]);
            assert_int_equal(id_node(id), nodes[n]);
            assert_int_equal(id_unix_ms(id), times[t]);
        }
    }
}

static void test_ids_fit_positive_int64(void **state)
{
    id_minter m;
    uint64_t id;
    /* The last millisecond 41 bits can hold (year 2093). */
    uint64_t last_ms = PARLEY_ID_EPOCH_MS + ((1ULL << 41) - 1);

    (void)state;
    assert_int_equal(id_minter_init(&m, PARLEY_ID_NODE_MAX), 0);
    id = id_minter_next(&m, real_now_ms());
    assert_true(id > 0 && id <= (uint64_t)INT64_MAX);
    assert_true((int64_t)id > 0);

    assert_int_equal(id_minter_init(&m, PARLEY_ID_NODE_MAX), 0);
    for (unsigned i = 0; i <= PARLEY_ID_SEQ_MAX; i++) {
        id = id_minter_next(&m, last_ms);
        assert_true(id > 0 && id <= (uint64_t)INT64_MAX);
    }
    assert_int_equal(id_unix_ms(id), last_ms);

    /* A clock before the epoch still yields positive ids (node 0 too). */
    assert_int_equal(id_minter_init(&m, 0), 0);
    id = id_minter_next(&m, 0);
    assert_true(id > 0 && id <= (uint64_t)INT64_MAX);
}

static void test_parse_accepts_canonical(void **state)
{
    uint64_t v = 12345;

    (void)state;
    assert_int_equal(id_parse("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(id_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(id_parse("1234567890123", &v), 0);
    assert_int_equal(v, 1234567890123ULL);
    assert_int_equal(id_parse("9223372036854775807", &v), 0);
    assert_int_equal(v, (uint64_t)INT64_MAX);
}

static void test_parse_refuses_non_canonical(void **state)
{
    static const char *const bad[] = {
        "",
        "0123",
        "00",
        "-1",
        "+1",
        " 1",
        "1 ",
        "9223372036854775808",  /* INT64_MAX + 1 */
        "18446744073709551615", /* UINT64_MAX */
        "18446744073709551616", /* wraps uint64 */
        "99999999999999999999",
        "1a",
        "0x10",
        "1.0",
        "1e3",
    };
    uint64_t v = 777;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (id_parse(bad[i], &v) != -1)
            fail_msg("id_parse accepted \"%s\"", bad[i]);
        assert_int_equal(v, 777); /* untouched on failure */
    }
    assert_int_equal(id_parse(NULL, &v), -1);
}

static void test_parse_round_trips_minted_ids(void **state)
{
    id_minter m;
    char buf[PARLEY_ID_STR_MAX + 1];
    uint64_t id, back;

    (void)state;
    assert_int_equal(id_minter_init(&m, 99), 0);
    for (int i = 0; i < 1000; i++) {
        id = id_minter_next(&m, T0 + (uint64_t)i);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
        assert_int_equal(id_parse(buf, &back), 0);
        assert_int_equal(back, id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refuses_node_over_10_bits),
        cmocka_unit_test(test_burst_in_one_ms_strictly_increasing),
        cmocka_unit_test(test_sequence_overflow_borrows_next_ms),
        cmocka_unit_test(test_clock_stepping_back_still_increasing),
        cmocka_unit_test(test_clock_stepping_back_with_burst_still_increasing),
        cmocka_unit_test(test_real_time_strictly_increasing),
        cmocka_unit_test(test_two_nodes_never_collide),
        cmocka_unit_test(test_node_and_time_recovered),
        cmocka_unit_test(test_ids_fit_positive_int64),
        cmocka_unit_test(test_parse_accepts_canonical),
        cmocka_unit_test(test_parse_refuses_non_canonical),
        cmocka_unit_test(test_parse_round_trips_minted_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
