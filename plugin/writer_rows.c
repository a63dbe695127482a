/*
 * writer_rows.c - the pure parts of the writer thread (writer.c), declared
 * in writer.h: reading the columns of a rewritten message without building
 * a JSON tree, encoding them as rows of a binary COPY, and formatting acks
 * from a fixed template.  No I/O and no state, so unit tests
 * (tests/unit/test_writer.c) call them directly.
 */
#include <stdlib.h>
#include <string.h>

#include "writer.h"

/* ===== reading a rewritten message (pure) ===== */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is at the opening quote of a JSON string.  Returns the position just
 * after its closing quote, or NULL if it does not end or holds a raw
 * control character.  *escaped tells whether it holds any backslash. */
static const char *string_end(const char *p, const char *end, bool *escaped)
{
    *escaped = false;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            *escaped = true;
            if (++p == end)
                return NULL;
        }
    }
    return NULL;
}

/* p is at the start of any JSON value.  Returns the position just after it
 * or NULL.  Nested values are only delimited here, not checked: what ends
 * up in extra is checked by the server's jsonb input. */
static const char *value_end(const char *p, const char *end)
{
    bool escaped;
    int depth = 0;

    if (p >= end)
        return NULL;
    if (*p == '"')
        return string_end(p, end, &escaped);
    if (*p != '{' && *p != '[') {
        const char *q = p;
        while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' &&
               *q != '\t' && *q != '\n' && *q != '\r' && *q != '"' &&
               *q != '{' && *q != '[' && *q != ':')
            q++;
        return q > p ? q : NULL;
    }
    while (p < end) {
        if (*p == '"') {
            p = string_end(p, end, &escaped);
            if (p == NULL)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the JSON string whose quotes are at p and q - 1 into out (which
 * needs q - p bytes at most).  Returns the decoded length, or -1 for an
 * escape that is malformed, a lone surrogate or \u0000 (which PostgreSQL
 * text cannot hold). */
static long decode_string(const char *p, const char *q, char *out)
{
    char *o = out;

    for (p++, q--; p < q; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        if (++p >= q)
            return -1;
        switch (*p) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (q - p < 5 || hex4(p + 1, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (q - p < 7 || p[1] != '\\' || p[2] != 'u' ||
                    hex4(p + 3, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                return -1;
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xf0 | cp >> 18);
                *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
                *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            return -1;
        }
    }
    return (long)(o - out);
}

/* Reads a JSON integer, bare or as a decimal string, as ->>'…'::bigint
 * would.  Returns 0, or -1. */
static int read_int64(const char *p, const char *q, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0;

    if (q - p >= 2 && *p == '"') {
        p++;
        q--;
    }
    if (p < q && *p == '-') {
        neg = true;
        p++;
    }
    if (p == q || q - p > 19)
        return -1;
    for (; p < q; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* A raw JSON string value at [p, q) as a uuid.  Returns 0, or -1. */
static int read_uuid(const char *p, const char *q, uuid_bin *out)
{
    if (q - p != UUID_STR_LEN + 2 || *p != '"')
        return -1;
    return uuid_parse_n(p + 1, UUID_STR_LEN, out);
}

enum { F_ID, F_CONV, F_FROM, F_TS, F_TXN, F_TYPE, F_BODY, F_COUNT };

static int field_of(const char *k, size_t n)
{
    static const char *const names[F_COUNT] = {"id",  "conv", "from", "ts",
                                               "txn", "type", "body"};

    for (int f = 0; f < F_COUNT; f++)
        if (strlen(names[f]) == n && memcmp(names[f], k, n) == 0)
            return f;
    return -1;
}

int writer_message_parse(const char *json, size_t len, char *scratch,
                         writer_message *m)
{
    const char *p = json, *end = json + len;
    const char *vs[F_COUNT] = {NULL}, *ve[F_COUNT] = {NULL};
    char *o = scratch;
    bool first_extra = true;
    long n;

    memset(m, 0, sizeof *m);
    p = skip_ws(p, end);
    if (p == end || *p != '{')
        return -1;
    *o++ = '{';
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            const char *ks = p, *ke, *v, *vend;
            bool escaped;
            int f;

            if (p == end || *p != '"' ||
                (ke = string_end(p, end, &escaped)) == NULL)
                return -1;
            p = skip_ws(ke, end);
            if (p == end || *p != ':')
                return -1;
            v = skip_ws(p + 1, end);
            vend = value_end(v, end);
            if (vend == NULL)
                return -1;
            /* A key spelled with escapes is never one of ours: the server
             * compares decoded keys, so leave such records to it. */
            if (escaped)
                return -1;
            f = field_of(ks + 1, (size_t)(ke - ks - 2));
            if (f >= 0) {
                vs[f] = v; /* the last one counts, as in jsonb */
                ve[f] = vend;
            } else {
                if (!first_extra)
                    *o++ = ',';
                first_extra = false;
                memcpy(o, ks, (size_t)(vend - ks));
                o += vend - ks;
            }
            p = skip_ws(vend, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return -1;
        }
    }
    if (skip_ws(p, end) != end)
        return -1;
    *o++ = '}';
    m->extra = scratch;
    m->extra_len = (size_t)(o - scratch);

    for (int f = 0; f < F_BODY; f++)
        if (vs[f] == NULL)
            return -1;
    if (read_int64(vs[F_ID], ve[F_ID], &m->id) != 0 ||
        read_int64(vs[F_TS], ve[F_TS], &m->ts_ms) != 0 ||
        read_uuid(vs[F_CONV], ve[F_CONV], &m->conv) != 0 ||
        read_uuid(vs[F_FROM], ve[F_FROM], &m->from) != 0)
        return -1;
    /* Far outside any real clock; keeps the conversion to microseconds
     * from overflowing. */
    if (m->ts_ms < -INT64_C(100000000000000) ||
        m->ts_ms > INT64_C(100000000000000))
        return -1;
    for (int f = F_TXN; f <= F_BODY; f++) {
        if (vs[f] == NULL)
            continue; /* only body may be missing */
        if (f == F_BODY && ve[f] - vs[f] == 4 && memcmp(vs[f], "null", 4) == 0)
            continue;
        if (*vs[f] != '"' || (n = decode_string(vs[f], ve[f], o)) < 0)
            return -1;
        if (f == F_TXN) {
            m->txn = o;
            m->txn_len = (size_t)n;
        } else if (f == F_TYPE) {
            m->type = o;
            m->type_len = (size_t)n;
        } else {
            m->body = o;
            m->body_len = (size_t)n;
        }
        o += n;
    }
    return 0;
}

/* ===== binary COPY (pure) ===== */

/* Microseconds from the unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_US INT64_C(946684800000000)

int writer_buf_reserve(writer_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

void writer_buf_free(writer_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void put_be(writer_buf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b->data[b->len++] = (char)(v >> (8 * i));
}

static void put_field(writer_buf *b, const void *data, size_t len)
{
    put_be(b, (uint32_t)len, 4);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

int writer_copy_begin(writer_buf *b)
{
    static const char signature[11] = "PGCOPY\n\377\r\n";

    if (writer_buf_reserve(b, 19) != 0)
        return -1;
    memcpy(b->data + b->len, signature, sizeof signature);
    b->len += sizeof signature;
    put_be(b, 0, 4); /* flags: no oids */
    put_be(b, 0, 4); /* no header extension */
    return 0;
}

int writer_copy_row(writer_buf *b, const writer_message *m, size_t *seq_offset)
{
    size_t need = 2 + 9 * 4 + 8 + 16 + 16 + m->txn_len + m->type_len +
                  m->body_len + 1 + m->extra_len + 8 + 8;

    if (writer_buf_reserve(b, need) != 0)
        return -1;
    put_be(b, 9, 2);
    put_be(b, 8, 4);
    put_be(b, (uint64_t)m->id, 8);
    put_field(b, m->conv.b, 16);
    put_field(b, m->from.b, 16);
    put_field(b, m->txn, m->txn_len);
    put_field(b, m->type, m->type_len);
    if (m->body == NULL)
        put_be(b, UINT32_MAX, 4); /* -1: NULL */
    else
        put_field(b, m->body, m->body_len);
    put_be(b, 1 + m->extra_len, 4);
    b->data[b->len++] = 1; /* jsonb's binary format version */
    memcpy(b->data + b->len, m->extra, m->extra_len);
    b->len += m->extra_len;
    put_be(b, 8, 4);
    put_be(b, (uint64_t)(m->ts_ms * 1000 - PG_EPOCH_US), 8);
    put_be(b, 8, 4);
    *seq_offset = b->len;
    put_be(b, 0, 8);
    return 0;
}

void writer_copy_set_seq(writer_buf *b, size_t offset, int64_t seq)
{
    size_t len = b->len;

    b->len = offset;
    put_be(b, (uint64_t)seq, 8);
    b->len = len;
}

int writer_copy_end(writer_buf *b)
{
    if (writer_buf_reserve(b, 2) != 0)
        return -1;
    put_be(b, 0xffff, 2);
    return 0;
}

/* ===== acks (pure) ===== */

/* Appends s as a JSON string; o must have room for 6 * strlen(s) + 2. */
static char *put_json_string(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    *o++ = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 0xf];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    return o;
}

static char *put_lit(char *o, const char *s)
{
    size_t n = strlen(s);

    memcpy(o, s, n);
    return o + n;
}

static char *put_ack_fields(char *o, const writer_ack_item *it)
{
    o = put_lit(o, "\"conv\":");
    o = put_json_string(o, it->conv);
    o = put_lit(o, ",\"txn\":");
    o = put_json_string(o, it->txn);
    o = put_lit(o, ",\"id\":");
    return put_json_string(o, it->id);
}

char *writer_ack_format(const writer_ack_item *items, size_t n, size_t *len_out)
{
    size_t cap = 48;
    char *text, *o;

    for (size_t i = 0; i < n; i++)
        cap += 40 + 6 * (strlen(items[i].conv) + strlen(items[i].txn) +
                         strlen(items[i].id));
    text = malloc(cap);
    if (text == NULL)
        return NULL;
    o = put_lit(text, "{\"type\":\"ack\",");
    if (n == 1) {
        o = put_ack_fields(o, &items[0]);
    } else {
        o = put_lit(o, "\"items\":[");
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                *o++ = ',';
            *o++ = '{';
            o = put_ack_fields(o, &items[i]);
            *o++ = '}';
        }
        *o++ = ']';
    }
    *o++ = '}';
    *o = '\0';
    *len_out = (size_t)(o - text);
    return text;
}
