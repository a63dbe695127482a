/*
 * histogram.h - a log-linear latency histogram in microseconds: 128 buckets
 * per power of two (values are kept within 0.8%), exact below 256 us, up
 * to 2^42 us (larger values land in the last bucket).  Fixed size, no
 * allocation; recording is O(1), so the load generator records every
 * message.
 */
#ifndef BENCH_HISTOGRAM_H
#define BENCH_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_SUB (1u << HISTOGRAM_SUB_BITS)
#define HISTOGRAM_MAX_SHIFT 34
#define HISTOGRAM_BUCKETS ((HISTOGRAM_MAX_SHIFT + 1) * HISTOGRAM_SUB)

typedef struct latency_histogram {
    uint64_t counts[HISTOGRAM_BUCKETS];
    uint64_t total;
    uint64_t min_us, max_us; /* exact */
    double sum_us;
} latency_histogram;

/* Empties h. */
void histogram_init(latency_histogram *h);

/* Counts one value (microseconds). */
void histogram_record(latency_histogram *h, uint64_t value_us);

/* The bucket a value falls in, and the largest value of a bucket (what
 * percentiles report, so they err high by at most 1/128). */
unsigned histogram_bucket(uint64_t value_us);
uint64_t histogram_bucket_high(unsigned bucket);

/* The value below which pct percent (0..100) of the recorded values lie,
 * as the highest value of its bucket, capped at the exact maximum; 0 when
 * nothing was recorded. */
uint64_t histogram_percentile(const latency_histogram *h, double pct);

/* Mean of the recorded values (exact), 0 when empty. */
double histogram_mean(const latency_histogram *h);

#endif
