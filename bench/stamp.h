/*
 * stamp.h - what the load generator writes into each message and reads
 * back: the client transaction id ("txn") carries the run, the publisher,
 * a sequence number and the send time, so a receiver can account for every
 * message and its latency from the bytes alone.  The same bytes go to a
 * bare broker (which passes them on untouched) and to Parley (which
 * rewrites the payload but keeps txn, and names txn in its acks and
 * errors on user/{u}/inbox).  Pure functions over buffers, no I/O.
 */
#ifndef BENCH_STAMP_H
#define BENCH_STAMP_H

#include <stddef.h>
#include <stdint.h>

/* Longest run id: [A-Za-z0-9]{1,16}. */
#define STAMP_RUN_MAX 16
/* A txn is at most 64 characters in Parley's protocol. */
#define STAMP_TXN_MAX 64

typedef struct msg_stamp {
    uint32_t publisher; /* index of the publishing client in the plan */
    uint64_t seq;       /* per publisher, from 0 */
    uint64_t sent_us;   /* CLOCK_MONOTONIC microseconds */
} msg_stamp;

typedef enum inbox_kind {
    INBOX_OTHER,
    INBOX_ACK,   /* {"type":"ack",...}: one txn or "items" with several */
    INBOX_ERROR, /* {"type":"error","code":...,"txn":...} */
} inbox_kind;

/* True if run is a usable run id. */
int stamp_run_valid(const char *run);

/* Writes "<run>_<publisher>_<seq>_<sent_us>" and a NUL into buf.  Returns
 * its length, or -1 if it does not fit size or STAMP_TXN_MAX. */
int stamp_txn_format(char *buf, size_t size, const char *run,
                     const msg_stamp *s);

/* Parses a txn of length len written by stamp_txn_format for this run.
 * Returns 0, or -1 for anything else (another run, not a stamp). */
int stamp_txn_parse(const char *txn, size_t len, const char *run,
                    msg_stamp *out);

/* Writes the chat payload {"txn":"<txn>","type":"text","body":"xx…"} with
 * body_chars characters of body.  Returns its length (no NUL is counted),
 * or -1 if it does not fit size. */
int stamp_payload_format(char *buf, size_t size, const char *txn,
                         size_t body_chars);

/* Finds the next "<key>":"<value>" in [p, end) and returns a pointer to
 * the value, its length in *len (up to the closing quote; values with
 * escapes are not expected here).  NULL when there is none. */
const char *stamp_find_string(const char *p, const char *end, const char *key,
                              size_t *len);

/* What a message on user/{u}/inbox is, from its top-level "type". */
inbox_kind stamp_inbox_kind(const char *payload, size_t len);

#endif
