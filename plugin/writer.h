/*
 * writer.h - the pure parts of the writer thread, implemented in
 * writer_rows.c: reading the columns of a rewritten message, encoding a
 * batch as binary COPY rows, and formatting acks.  No I/O here, so unit
 * tests call them directly.  The thread's own interface (writer_start,
 * writer_enqueue, ...) is declared in plugin_ctx.h with the other parts of
 * the plugin; writer.c uses this header.
 */
#ifndef PARLEY_WRITER_H
#define PARLEY_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

/* The columns of one rewritten chat message.  The strings point into the
 * scratch buffer given to writer_message_parse and are not NUL-terminated;
 * body is NULL when the message has none (or a JSON null).  extra is a JSON
 * object holding every member but id, conv, from, ts, txn, type and body,
 * as the server's statement computes it. */
typedef struct writer_message {
    int64_t id;
    int64_t ts_ms;
    uuid_bin conv, from;
    const char *txn, *type, *body, *extra;
    size_t txn_len, type_len, body_len, extra_len;
} writer_message;

/* Reads the columns of the rewritten message json (len bytes).  scratch
 * must hold at least len + 2 bytes; the decoded strings are written there.
 * Returns 0, or -1 when the record is not a message this fast path stores
 * as is (not an object, a field missing or of another type, an escape
 * PostgreSQL text cannot hold such as \u0000, a non-canonical uuid): the
 * caller then lets the server's JSON statement judge it. */
int writer_message_parse(const char *json, size_t len, char *scratch,
                         writer_message *m);

/* A growable byte buffer. */
typedef struct writer_buf {
    char *data;
    size_t len, cap;
} writer_buf;

/* Makes room for n more bytes.  Returns 0, or -1 out of memory. */
int writer_buf_reserve(writer_buf *b, size_t n);
void writer_buf_free(writer_buf *b);

/* The columns a batch is copied into, in the order writer_copy_row writes
 * them. */
#define WRITER_COPY_COLUMNS                                                    \
    "id, conv_id, sender_id, txn, type, body, extra, ts, seq"

/* Starts a binary COPY stream (the signature and header). */
int writer_copy_begin(writer_buf *b);
/* Appends m as one row of binary COPY.  Its seq is left 0; *seq_offset
 * receives where the 8 bytes of seq are, for writer_copy_set_seq once the
 * numbers are reserved.  Returns 0, or -1 out of memory. */
int writer_copy_row(writer_buf *b, const writer_message *m, size_t *seq_offset);
/* Writes seq (big-endian int8) at offset, as recorded by writer_copy_row. */
void writer_copy_set_seq(writer_buf *b, size_t offset, int64_t seq);
/* Ends the stream (the trailer). */
int writer_copy_end(writer_buf *b);

/* One message to acknowledge, NUL-terminated strings. */
typedef struct writer_ack_item {
    const char *conv, *txn, *id;
} writer_ack_item;

/* Formats the ack for n (>= 1) messages of one sender:
 * {"type":"ack","conv":…,"txn":…,"id":…} for one, and
 * {"type":"ack","items":[{"conv":…,"txn":…,"id":…},…]} for several, the
 * strings escaped as JSON.  Returns the malloc'd text (NUL-terminated,
 * *len_out bytes; the caller frees it), or NULL out of memory. */
char *writer_ack_format(const writer_ack_item *items, size_t n,
                        size_t *len_out);

#endif
