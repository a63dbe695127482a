/*
 * test_bench.c - unit tests of the load generator's pure parts: the latency
 * histogram, the message stamps and the plan reader.  A wrong percentile or
 * a misread stamp would make every benchmark figure wrong, silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/histogram.h"
#include "bench/plan.h"
#include "bench/stamp.h"

/* ---------------------------------------------------------------- histogram */

static void test_histogram_buckets_are_contiguous(void **state)
{
    (void)state;
    /* Every bucket's highest value is one below the next bucket's lowest. */
    for (unsigned b = 0; b + 1 < HISTOGRAM_BUCKETS; b++) {
        uint64_t high = histogram_bucket_high(b);
        assert_int_equal(histogram_bucket(high), b);
        assert_int_equal(histogram_bucket(high + 1), b + 1);
    }
}

static void test_histogram_precision(void **state)
{
    (void)state;
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
        uint64_t high = histogram_bucket_high(histogram_bucket(v));
        assert_true(high >= v);
        assert_true((double)(high - v) <= (double)v / 128.0 + 1.0);
    }
    assert_int_equal(histogram_bucket(UINT64_MAX), HISTOGRAM_BUCKETS - 1);
}

static void test_histogram_percentiles(void **state)
{
    latency_histogram *h = malloc(sizeof *h);

    (void)state;
    histogram_init(h);
    assert_int_equal(histogram_percentile(h, 50), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        histogram_record(h, v);
    assert_int_equal(h->total, 1000);
    assert_int_equal(h->min_us, 1);
    assert_int_equal(h->max_us, 1000);
    /* Exact below 256, within 1/128 above. */
    assert_int_equal(histogram_percentile(h, 10), 100);
    uint64_t p50 = histogram_percentile(h, 50);
    assert_true(p50 >= 500 && p50 <= 504);
    uint64_t p99 = histogram_percentile(h, 99);
    assert_true(p99 >= 990 && p99 <= 1000);
    assert_int_equal(histogram_percentile(h, 100), 1000);
    assert_int_equal(histogram_percentile(h, 99.99), 1000); /* capped at max */
    assert_true(histogram_mean(h) > 500.4 && histogram_mean(h) < 500.6);
    free(h);
}

static void test_histogram_one_outlier(void **state)
{
    latency_histogram *h = malloc(sizeof *h);

    (void)state;
    histogram_init(h);
    for (int i = 0; i < 999; i++)
        histogram_record(h, 100);
    histogram_record(h, 5000000);
    assert_int_equal(histogram_percentile(h, 99), 100);
    assert_int_equal(histogram_percentile(h, 99.9), 100);
    assert_true(histogram_percentile(h, 99.95) >= 5000000);
    free(h);
}

/* ---------------------------------------------------------------- stamps */

static void test_stamp_round_trip(void **state)
{
    char txn[STAMP_TXN_MAX + 1];
    msg_stamp in = {4294967295u, 18446744073709551615ull, 123456789012ull};
    msg_stamp out;
    int n;

    (void)state;
    n = stamp_txn_format(txn, sizeof txn, "abc123", &in);
    assert_true(n > 0 && n <= STAMP_TXN_MAX);
    assert_int_equal(stamp_txn_parse(txn, (size_t)n, "abc123", &out), 0);
    assert_int_equal(out.publisher, in.publisher);
    assert_true(out.seq == in.seq);
    assert_true(out.sent_us == in.sent_us);
    /* Only [A-Za-z0-9_-]: Parley accepts it as a txn. */
    for (int i = 0; i < n; i++)
        assert_true(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_-",
                           txn[i]) != NULL);
}

static void test_stamp_rejects_others(void **state)
{
    msg_stamp out;

    (void)state;
    assert_int_equal(stamp_txn_parse("run1_1_2_3", 10, "run2", &out), -1);
    assert_int_equal(stamp_txn_parse("run11_1_2_3", 11, "run1", &out), -1);
    assert_int_equal(stamp_txn_parse("run1_1_2", 8, "run1", &out), -1);
    assert_int_equal(stamp_txn_parse("run1_1_2_", 9, "run1", &out), -1);
    assert_int_equal(stamp_txn_parse("run1_1_2_3x", 11, "run1", &out), -1);
    assert_int_equal(stamp_txn_parse("run1_4294967296_2_3", 19, "run1", &out),
                     -1);
    assert_int_equal(
        stamp_txn_parse("run1_1_99999999999999999999_3", 29, "run1", &out), -1);
    assert_int_equal(stamp_txn_parse("run1_1_2_3", 10, "run1", &out), 0);
    assert_false(stamp_run_valid(""));
    assert_false(stamp_run_valid("a_b"));
    assert_false(stamp_run_valid("12345678901234567"));
    assert_true(stamp_run_valid("Ab9"));
}

static void test_stamp_payload(void **state)
{
    char buf[256];
    int n;

    (void)state;
    n = stamp_payload_format(buf, sizeof buf, "r_1_2_3", 5);
    assert_string_equal(buf, "{\"txn\":\"r_1_2_3\",\"type\":\"text\",\"body\":\"abcde\"}");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(stamp_payload_format(buf, 40, "r_1_2_3", 5), -1);
}

static void test_stamp_reads_parley_rewrite(void **state)
{
    /* What Parley delivers: its own fields first, the client's txn kept. */
    const char *m = "{\"id\":\"384078538707304448\",\"conv\":\"c\",\"from\":\"u\","
                    "\"ts\":1795638659462,\"txn\":\"r_0_7_99\",\"type\":\"text\","
                    "\"body\":\"hi\"}";
    size_t len;
    const char *txn = stamp_find_string(m, m + strlen(m), "txn", &len);
    msg_stamp st;

    (void)state;
    assert_non_null(txn);
    assert_int_equal(stamp_txn_parse(txn, len, "r", &st), 0);
    assert_int_equal(st.seq, 7);
    assert_int_equal(st.sent_us, 99);
}

static void test_stamp_inbox(void **state)
{
    const char *one = "{\"type\":\"ack\",\"conv\":\"c\",\"txn\":\"r_0_1_5\",\"id\":\"9\"}";
    const char *many = "{\"type\":\"ack\",\"items\":[{\"conv\":\"c\",\"txn\":\"r_0_1_5\","
                       "\"id\":\"9\"},{\"conv\":\"c\",\"txn\":\"r_0_2_6\",\"id\":\"10\"}]}";
    const char *err = "{\"type\":\"error\",\"code\":\"busy\",\"detail\":\"x\","
                      "\"txn\":\"r_0_3_7\"}";
    const char *event = "{\"type\":\"member_added\",\"conv\":\"c\"}";
    const char *p, *end, *v;
    size_t len;
    int n = 0;

    (void)state;
    assert_int_equal(stamp_inbox_kind(one, strlen(one)), INBOX_ACK);
    assert_int_equal(stamp_inbox_kind(many, strlen(many)), INBOX_ACK);
    assert_int_equal(stamp_inbox_kind(err, strlen(err)), INBOX_ERROR);
    assert_int_equal(stamp_inbox_kind(event, strlen(event)), INBOX_OTHER);
    assert_int_equal(stamp_inbox_kind("{}", 2), INBOX_OTHER);
    for (p = many, end = many + strlen(many);
         (v = stamp_find_string(p, end, "txn", &len)) != NULL; p = v + len)
        n++;
    assert_int_equal(n, 2);
    v = stamp_find_string(err, err + strlen(err), "code", &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    assert_memory_equal(v, "busy", 4);
    /* An unterminated value is not a value. */
    assert_null(stamp_find_string("{\"txn\":\"abc", "{\"txn\":\"abc" + 10, "txn",
                                  &len));
}

/* ---------------------------------------------------------------- plan */

static FILE *text_file(const char *text)
{
    return fmemopen((void *)text, strlen(text), "r");
}

static void test_plan_reads_clients_and_topics(void **state)
{
    const char *text = "# fan-in\n"
                       "client u1:d u1 tok1\n"
                       "sub conv/a/m\n"
                       "inbox user/u1/inbox\n"
                       "\n"
                       "client u2:d u2 -\n"
                       "pub conv/a/m\n"
                       "pub conv/b/m\n"
                       "client anon - -\n"
                       "sub conv/a/m\n"
                       "sub conv/b/m\n";
    FILE *f = text_file(text);
    plan p;
    char err[128];

    (void)state;
    assert_int_equal(plan_read(f, &p, err, sizeof err), 0);
    fclose(f);
    assert_int_equal(p.n_clients, 3);
    assert_int_equal(p.n_topics, 3);
    assert_string_equal(p.clients[0].client_id, "u1:d");
    assert_string_equal(p.clients[0].username, "u1");
    assert_string_equal(p.clients[0].password, "tok1");
    assert_null(p.clients[1].password);
    assert_null(p.clients[2].username);
    long a = plan_topic_find(&p, "conv/a/m");
    long b = plan_topic_find(&p, "conv/b/m");
    long inbox = plan_topic_find(&p, "user/u1/inbox");
    assert_true(a >= 0 && b >= 0 && inbox >= 0);
    assert_int_equal(plan_topic_find(&p, "conv/c/m"), -1);
    assert_int_equal(p.subscribers[a], 2);
    assert_int_equal(p.subscribers[b], 1);
    assert_int_equal(p.subscribers[inbox], 0); /* inboxes are not deliveries */
    assert_int_equal(p.clients[0].inbox, inbox);
    assert_int_equal(p.clients[1].n_pubs, 2);
    assert_int_equal(plan_publishers(&p), 1);
    plan_free(&p);
    plan_free(&p); /* idempotent */
}

static void test_plan_many_topics(void **state)
{
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    plan p;
    char err[128];

    (void)state;
    len += (size_t)snprintf(text + len, cap - len, "client c - -\n");
    for (int i = 0; i < 5000; i++)
        len += (size_t)snprintf(text + len, cap - len, "sub conv/%d/m\n", i);
    FILE *f = text_file(text);
    assert_int_equal(plan_read(f, &p, err, sizeof err), 0);
    fclose(f);
    assert_int_equal(p.n_topics, 5000);
    assert_int_equal(p.clients[0].n_subs, 5000);
    assert_int_equal(plan_topic_find(&p, "conv/4321/m"), 4321);
    plan_free(&p);
    free(text);
}

static void test_plan_errors_name_the_line(void **state)
{
    static const char *bad[] = {
        "sub conv/a/m\n",                  /* no client yet */
        "client a b\n",                    /* missing password */
        "client a - -\nfrobnicate x\n",    /* unknown directive */
        "client a - -\nsub\n",             /* missing topic */
    };
    static const char *line[] = {"line 1", "line 1", "line 2", "line 2"};

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = text_file(bad[i]);
        plan p;
        char err[128] = "";
        assert_int_equal(plan_read(f, &p, err, sizeof err), -1);
        fclose(f);
        assert_non_null(strstr(err, line[i]));
        assert_int_equal(p.n_clients, 0); /* freed */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets_are_contiguous),
        cmocka_unit_test(test_histogram_precision),
        cmocka_unit_test(test_histogram_percentiles),
        cmocka_unit_test(test_histogram_one_outlier),
        cmocka_unit_test(test_stamp_round_trip),
        cmocka_unit_test(test_stamp_rejects_others),
        cmocka_unit_test(test_stamp_payload),
        cmocka_unit_test(test_stamp_reads_parley_rewrite),
        cmocka_unit_test(test_stamp_inbox),
        cmocka_unit_test(test_plan_reads_clients_and_topics),
        cmocka_unit_test(test_plan_many_topics),
        cmocka_unit_test(test_plan_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
