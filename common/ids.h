/*
 * ids.h - time-ordered 64-bit message ids.
 *
 * An id is 41 bits of milliseconds since PARLEY_ID_EPOCH_MS, 10 bits of node
 * id and 12 bits of sequence, so it fits a signed 64-bit integer (PostgreSQL
 * bigint), sorts by time, and two broker instances with different node ids
 * never mint the same value.  Pure logic: the caller supplies the clock.
 */
#ifndef PARLEY_IDS_H
#define PARLEY_IDS_H

#include <stdint.h>

#define PARLEY_ID_EPOCH_MS 1704067200000ULL /* 2024-01-01T00:00:00Z */
#define PARLEY_ID_NODE_BITS 10
#define PARLEY_ID_SEQ_BITS 12
#define PARLEY_ID_NODE_MAX ((1u << PARLEY_ID_NODE_BITS) - 1)
#define PARLEY_ID_SEQ_MAX ((1u << PARLEY_ID_SEQ_BITS) - 1)
/* Longest decimal form of an id, without the terminating NUL. */
#define PARLEY_ID_STR_MAX 20

typedef struct id_minter {
    uint32_t node;    /* 0 .. PARLEY_ID_NODE_MAX */
    uint64_t last_ms; /* milliseconds since the epoch of the last id */
    uint32_t seq;     /* sequence within last_ms */
} id_minter;

/* Initialises a minter for the given node. Returns 0, or -1 if the node id
 * does not fit in PARLEY_ID_NODE_BITS. */
int id_minter_init(id_minter *m, uint32_t node);

/* Returns a new id, strictly greater than every id this minter returned
 * before, given the current wall clock in unix milliseconds.  When the clock
 * goes backwards or a millisecond's sequence is exhausted, the minter moves
 * its own notion of time forward instead of repeating or waiting. */
uint64_t id_minter_next(id_minter *m, uint64_t now_unix_ms);

/* Unix milliseconds encoded in an id. */
uint64_t id_unix_ms(uint64_t id);

/* Node id encoded in an id. */
uint32_t id_node(uint64_t id);

/* Parses a decimal id ("1234"), no sign, no spaces, no leading zeros, at
 * most 19 digits, at most INT64_MAX.  Returns 0 and stores the value, or -1. */
int id_parse(const char *s, uint64_t *out);

#endif
