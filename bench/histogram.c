/*
 * histogram.c - the log-linear latency histogram (see histogram.h).
 *
 * Bucket layout: values below 2 * SUB are their own bucket.  Above, a value
 * with its highest bit at position msb is shifted right by msb - SUB_BITS,
 * which leaves SUB_BITS + 1 significant bits, a number in [SUB, 2 * SUB);
 * the bucket is shift * SUB plus that number, so buckets continue without a
 * gap from one power of two to the next.
 */
#include "histogram.h"

#include <string.h>

void histogram_init(latency_histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min_us = UINT64_MAX;
}

unsigned histogram_bucket(uint64_t v)
{
    unsigned msb, shift;

    if (v < 2 * HISTOGRAM_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - HISTOGRAM_SUB_BITS;
    if (shift > HISTOGRAM_MAX_SHIFT)
        return HISTOGRAM_BUCKETS - 1;
    return shift * HISTOGRAM_SUB + (unsigned)(v >> shift);
}

uint64_t histogram_bucket_high(unsigned b)
{
    unsigned shift;
    uint64_t top;

    if (b < 2 * HISTOGRAM_SUB)
        return b;
    shift = b / HISTOGRAM_SUB - 1;
    top = b - shift * HISTOGRAM_SUB; /* in [SUB, 2 * SUB) */
    return ((top + 1) << shift) - 1;
}

void histogram_record(latency_histogram *h, uint64_t v)
{
    h->counts[histogram_bucket(v)]++;
    h->total++;
    h->sum_us += (double)v;
    if (v < h->min_us)
        h->min_us = v;
    if (v > h->max_us)
        h->max_us = v;
}

uint64_t histogram_percentile(const latency_histogram *h, double pct)
{
    uint64_t rank, seen = 0;

    if (h->total == 0)
        return 0;
    if (pct <= 0)
        return h->min_us;
    if (pct >= 100)
        return h->max_us;
    /* The smallest value with at least pct% of all values at or below it. */
    rank = (uint64_t)((pct / 100.0) * (double)h->total + 0.999999);
    if (rank == 0)
        rank = 1;
    for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t high = histogram_bucket_high(b);
            return high < h->max_us ? high : h->max_us;
        }
    }
    return h->max_us;
}

double histogram_mean(const latency_histogram *h)
{
    return h->total ? h->sum_us / (double)h->total : 0.0;
}
