/*
 * payload.h - validation and server rewrite of chat messages published on
 * conv/{c}/m (DESIGN.md, "Payloads").
 *
 * A client's payload is checked (size, UTF-8, JSON object, txn, type and the
 * fields each type needs) and rebuilt from the known fields only, with the
 * server's id, conv, from and ts: what subscribers receive, what the spool
 * keeps and what the writer stores are this one rewritten text.  Pure: the
 * caller supplies the id and the clock.  Chat messages are checked by
 * json_scan.c without building a tree (the hot path); typing notices and
 * receipts go through jansson.
 */
#ifndef PARLEY_PAYLOAD_H
#define PARLEY_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "uuid.h"

#define PAYLOAD_TXN_MAX 64
#define PAYLOAD_ERROR_DETAIL_MAX 160

typedef struct payload_limits {
    size_t max_payload_bytes; /* whole payload, default 16 KiB */
    size_t max_body_chars;    /* code points in body, default 4000 */
} payload_limits;

typedef struct payload_error {
    const char *code; /* stable machine code, e.g. "invalid_payload" */
    char detail[PAYLOAD_ERROR_DETAIL_MAX];
    char txn[PAYLOAD_TXN_MAX + 1]; /* the client's txn when it was readable */
} payload_error;

/* The server's stamp on a message. */
typedef struct payload_stamp {
    uint64_t id;
    const char *conv; /* canonical uuid */
    const char *from; /* canonical uuid */
    int64_t ts_ms;
} payload_stamp;

typedef struct payload_rewrite_result {
    char *json; /* the rewritten message (malloc'd, NUL-terminated) */
    size_t len;
    char txn[PAYLOAD_TXN_MAX + 1];
} payload_rewrite_result;

typedef enum payload_type {
    PAYLOAD_TEXT = 1,
    PAYLOAD_MEDIA,
    PAYLOAD_E2E,
    PAYLOAD_DATA,
} payload_type;

/* The raw JSON text of one of the client's values, as it came. */
typedef struct payload_span {
    const char *text; /* NULL when the field is absent */
    size_t len;
    bool canonical; /* already in the form it is written out in */
    size_t reals;   /* real numbers in it */
} payload_span;

/* A validated client message, before the server's stamp.  It points into
 * the payload given to payload_parse, which must outlive it; it owns
 * nothing. */
typedef struct payload_message {
    payload_type type;
    payload_span body, attachments, e2e, data;
    char reply_to[PARLEY_ID_STR_MAX + 1]; /* "" when absent */
    char txn[PAYLOAD_TXN_MAX + 1];
} payload_message;

/* Validates payload (len bytes) in one scan, building no tree: the same
 * verdicts, codes and details as a jansson parse with duplicate keys
 * refused.  Returns 0 with *msg filled (pointing into payload), or -1 with
 * *err filled. */
int payload_parse(const void *payload, size_t len, const payload_limits *limits,
                  payload_message *msg, payload_error *err);

/* Writes the stamped message (id, conv, from, ts, then the client's fields:
 * txn, type, body, attachments, e2e, data, reply_to) into *out, with one
 * allocation.  The text is byte for byte what jansson's compact dump of the
 * same fields gives (values as they came when already in that form, the
 * common case), so it holds no newline.  Returns 0, or -1 when out of
 * memory. */
int payload_render(const payload_message *msg, const payload_stamp *stamp,
                   payload_rewrite_result *out);

/* Nothing to free any more; kept so callers need not change. */
void payload_message_free(payload_message *msg);

/* payload_parse and payload_render in one step. */
int payload_rewrite(const void *payload, size_t len,
                    const payload_limits *limits, const payload_stamp *stamp,
                    payload_rewrite_result *out, payload_error *err);

/* True if s is a valid txn: [A-Za-z0-9_-]{1,64}. */
int payload_txn_valid(const char *s);

/* Parses a typing notice ({"state":"typing"|"paused"}) and rewrites it with
 * from.  Returns 0 with a malloc'd text in *json, or -1 with *err filled. */
int payload_rewrite_typing(const void *payload, size_t len, const char *from,
                           char **json, size_t *json_len, payload_error *err);

/* How far in the future (by the clock in its id) a receipt's up_to may
 * point: receipts for messages not yet minted are refused. */
#define PAYLOAD_RECEIPT_SKEW_MS 60000

/* Parses a receipt ({"type":"delivered"|"read","up_to":"<id>"}) and rewrites
 * it as {"type","up_to","conv","from","ts"}.  Returns 0 with a malloc'd text
 * in *json, or -1 with *err filled. */
int payload_rewrite_receipt(const void *payload, size_t len, const char *conv,
                            const char *from, int64_t now_ms, char **json,
                            size_t *json_len, payload_error *err);

#endif
