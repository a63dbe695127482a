/*
 * json_scan.c - a JSON checker that builds no tree, accepting exactly what
 * jansson 2.14 accepts (see json_scan.h).  One iterative pass with an
 * explicit stack of open containers; the keys of each open object are kept
 * on a second stack and checked for duplicates when the object closes.
 */
#include "json_scan.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INLINE_FRAMES 32
#define INLINE_KEYS 64
/* Objects with more keys are checked for duplicates by sorting. */
#define PAIRWISE_KEYS_MAX 16

typedef struct key_ref {
    const char *s; /* unescaped name: in the text, or in the scratch area */
    size_t len;
} key_ref;

typedef struct frame {
    bool is_object;
    size_t key_base;     /* first key of this object on the key stack */
    size_t scratch_base; /* scratch bytes in use when it opened */
} frame;

typedef struct scanner {
    const unsigned char *t;
    size_t len;
    size_t pos;
    frame *frames;
    size_t nframes, frames_cap;
    key_ref *keys;
    size_t nkeys, keys_cap;
    char *scratch; /* unescaped keys; as large as the text once needed */
    size_t scratch_used;
    bool odd;     /* the current member's value is not canonical */
    size_t reals; /* real numbers in the current member's value */
    frame frames_inline[INLINE_FRAMES];
    key_ref keys_inline[INLINE_KEYS];
} scanner;

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static void skip_ws(scanner *s)
{
    size_t start = s->pos;

    while (s->pos < s->len && is_ws(s->t[s->pos]))
        s->pos++;
    if (s->pos != start && s->nframes >= 2)
        s->odd = true;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at t[i..i+4), or -1. */
static int32_t hex4(const unsigned char *t, size_t n, size_t i)
{
    int32_t v = 0;

    if (i > n || n - i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        int h = hex_value(t[i + k]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Length of the well-formed UTF-8 sequence (two to four bytes) at t[0..n),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *t, size_t n)
{
    unsigned char a = t[0], lo = 0x80, hi = 0xbf;
    size_t len;

    if (a >= 0xc2 && a <= 0xdf)
        len = 2;
    else if (a >= 0xe0 && a <= 0xef) {
        len = 3;
        if (a == 0xe0)
            lo = 0xa0;
        else if (a == 0xed)
            hi = 0x9f;
    } else if (a >= 0xf0 && a <= 0xf4) {
        len = 4;
        if (a == 0xf0)
            lo = 0x90;
        else if (a == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || t[1] < lo || t[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++) {
        if (t[k] < 0x80 || t[k] > 0xbf)
            return 0;
    }
    return len;
}

/* Scans the string whose opening quote is at s->pos. */
static int scan_string(scanner *s, json_scan_value *v)
{
    const unsigned char *t = s->t;
    size_t n = s->len, start = s->pos, i = start + 1;
    size_t dec = 0, chars = 0;
    bool escaped = false;

    for (;;) {
        unsigned char c;

        while (i < n) {
            c = t[i];
            if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
                break;
            i++;
            dec++;
            chars++;
        }
        if (i >= n)
            return JSON_SCAN_INVALID;
        c = t[i];
        if (c == '"')
            break;
        if (c == '\\') {
            if (i + 1 >= n)
                return JSON_SCAN_INVALID;
            c = t[i + 1];
            if (c == 'u') {
                int32_t cp = hex4(t, n, i + 2);
                if (cp < 0)
                    return JSON_SCAN_INVALID;
                i += 6;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    int32_t low;
                    if (n - i < 2 || t[i] != '\\' || t[i + 1] != 'u')
                        return JSON_SCAN_INVALID;
                    low = hex4(t, n, i + 2);
                    if (low < 0xdc00 || low > 0xdfff)
                        return JSON_SCAN_INVALID;
                    i += 6;
                    dec += 4;
                } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                    return JSON_SCAN_INVALID;
                } else {
                    dec += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
                }
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' ||
                       c == 'f' || c == 'n' || c == 'r' || c == 't') {
                i += 2;
                dec++;
            } else {
                return JSON_SCAN_INVALID;
            }
            chars++;
            escaped = true;
        } else if (c < 0x20) {
            return JSON_SCAN_INVALID;
        } else {
            size_t l = utf8_sequence(t + i, n - i);
            if (l == 0)
                return JSON_SCAN_INVALID;
            i += l;
            dec += l;
            chars++;
        }
    }
    v->kind = JSON_SCAN_STRING;
    v->text = (const char *)t + start;
    v->len = i + 1 - start;
    v->canonical = !escaped;
    v->reals = 0;
    v->escaped = escaped;
    if (escaped)
        s->odd = true;
    v->dec_len = dec;
    v->chars = chars;
    s->pos = i + 1;
    return 0;
}

/* True if the real number text[0..len) overflows a double the way
 * jansson's jsonp_strtod sees it (strtod gives +-HUGE_VAL with ERANGE). */
static bool real_overflows(const unsigned char *text, size_t len,
                           size_t int_digits, long exponent)
{
    char small[128], *copy = small;
    const char *point = localeconv()->decimal_point;
    double value;
    bool over;

    /* Below 10^int_digits * 10^exponent <= 10^308 < DBL_MAX. */
    if ((long)int_digits + exponent <= 308)
        return false;
    if (len >= sizeof small) {
        copy = malloc(len + 1);
        if (copy == NULL)
            return true; /* refused either way; json_loadb decides the text */
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (point != NULL && point[0] != '.' && point[0] != '\0') {
        char *dot = memchr(copy, '.', len);
        if (dot != NULL)
            *dot = point[0];
    }
    errno = 0;
    value = strtod(copy, NULL);
    over = (value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE;
    if (copy != small)
        free(copy);
    return over;
}

static int scan_number(scanner *s)
{
    static const char int64_max[] = "9223372036854775807";
    static const char int64_min[] = "9223372036854775808";
    const unsigned char *t = s->t;
    size_t n = s->len, start = s->pos, i = start, digits_start, int_digits;
    bool neg = false, real = false;
    long exponent = 0;

    if (t[i] == '-') {
        neg = true;
        i++;
    }
    digits_start = i;
    if (i >= n)
        return JSON_SCAN_INVALID;
    if (t[i] == '0') {
        i++;
        if (i < n && is_digit(t[i]))
            return JSON_SCAN_INVALID;
    } else if (is_digit(t[i])) {
        while (i < n && is_digit(t[i]))
            i++;
    } else {
        return JSON_SCAN_INVALID;
    }
    int_digits = i - digits_start;
    if (i < n && t[i] == '.') {
        i++;
        if (i >= n || !is_digit(t[i]))
            return JSON_SCAN_INVALID;
        while (i < n && is_digit(t[i]))
            i++;
        real = true;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        bool exp_neg = false;
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-')) {
            exp_neg = t[i] == '-';
            i++;
        }
        if (i >= n || !is_digit(t[i]))
            return JSON_SCAN_INVALID;
        while (i < n && is_digit(t[i])) {
            if (exponent < 100000)
                exponent = exponent * 10 + (t[i] - '0');
            i++;
        }
        if (exp_neg)
            exponent = -exponent;
        real = true;
    }
    if (!real) {
        /* strtoll's range: ERANGE is a refusal. */
        if (int_digits > 19)
            return JSON_SCAN_INVALID;
        if (int_digits == 19 &&
            memcmp(t + digits_start, neg ? int64_min : int64_max, 19) > 0)
            return JSON_SCAN_INVALID;
        if (neg && i - start == 2 && t[digits_start] == '0')
            s->odd = true; /* -0: jansson writes 0 */
    } else if (real_overflows(t + start, i - start, int_digits, exponent)) {
        return JSON_SCAN_INVALID;
    } else {
        s->odd = true;
        s->reals++;
    }
    s->pos = i;
    return 0;
}

static int push_frame(scanner *s, bool is_object)
{
    frame *f;

    if (s->nframes == s->frames_cap) {
        size_t cap = s->frames_cap * 2;
        frame *grown;
        if (s->frames == s->frames_inline) {
            grown = malloc(cap * sizeof *grown);
            if (grown != NULL)
                memcpy(grown, s->frames, s->nframes * sizeof *grown);
        } else {
            grown = realloc(s->frames, cap * sizeof *grown);
        }
        if (grown == NULL)
            return JSON_SCAN_NOMEM;
        s->frames = grown;
        s->frames_cap = cap;
    }
    f = &s->frames[s->nframes++];
    f->is_object = is_object;
    f->key_base = s->nkeys;
    f->scratch_base = s->scratch_used;
    return 0;
}

static int push_key(scanner *s, const json_scan_value *k)
{
    key_ref *ref;

    if (s->nkeys == s->keys_cap) {
        size_t cap = s->keys_cap * 2;
        key_ref *grown;
        if (s->keys == s->keys_inline) {
            grown = malloc(cap * sizeof *grown);
            if (grown != NULL)
                memcpy(grown, s->keys, s->nkeys * sizeof *grown);
        } else {
            grown = realloc(s->keys, cap * sizeof *grown);
        }
        if (grown == NULL)
            return JSON_SCAN_NOMEM;
        s->keys = grown;
        s->keys_cap = cap;
    }
    ref = &s->keys[s->nkeys++];
    ref->len = k->dec_len;
    if (!k->escaped) {
        ref->s = k->text + 1;
        return 0;
    }
    if (s->scratch == NULL) {
        /* Unescaped keys never take more room than the whole text. */
        s->scratch = malloc(s->len);
        if (s->scratch == NULL)
            return JSON_SCAN_NOMEM;
    }
    json_scan_unescape(k, s->scratch + s->scratch_used);
    ref->s = s->scratch + s->scratch_used;
    s->scratch_used += k->dec_len;
    return 0;
}

static int compare_keys(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);

    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static bool same_key(const key_ref *a, const key_ref *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* True if two keys of the object (keys[0..n)) are equal. */
static bool has_duplicate(key_ref *keys, size_t n)
{
    if (n <= PAIRWISE_KEYS_MAX) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                if (same_key(&keys[i], &keys[j]))
                    return true;
            }
        }
        return false;
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    for (size_t i = 1; i < n; i++) {
        if (same_key(&keys[i], &keys[i - 1]))
            return true;
    }
    return false;
}

static int literal(scanner *s, const char *word, size_t n)
{
    if (s->len - s->pos < n || memcmp(s->t + s->pos, word, n) != 0)
        return JSON_SCAN_INVALID;
    s->pos += n;
    return 0;
}

static json_scan_kind kind_of(unsigned char c)
{
    switch (c) {
    case '"':
        return JSON_SCAN_STRING;
    case '{':
        return JSON_SCAN_OBJECT;
    case '[':
        return JSON_SCAN_ARRAY;
    case 't':
        return JSON_SCAN_TRUE;
    case 'f':
        return JSON_SCAN_FALSE;
    case 'n':
        return JSON_SCAN_NULL;
    default:
        return JSON_SCAN_NUMBER;
    }
}

static int scan(scanner *s, json_scan_value *top, json_scan_member_fn on_member,
                void *arg)
{
    json_scan_value member, str;
    size_t member_start = 0;
    int rc;

    memset(&member, 0, sizeof member);
    skip_ws(s);
    if (s->pos >= s->len)
        return JSON_SCAN_INVALID;
    top->kind = kind_of(s->t[s->pos]);
    top->text = (const char *)s->t + s->pos;

value:
    if (s->nframes + 1 > JSON_SCAN_MAX_DEPTH || s->pos >= s->len)
        return JSON_SCAN_INVALID;
    if (s->nframes == 1) {
        member_start = s->pos;
        s->odd = false;
        s->reals = 0;
        memset(&member, 0, sizeof member);
        member.kind = kind_of(s->t[s->pos]);
    }
    switch (s->t[s->pos]) {
    case '{':
        if ((rc = push_frame(s, true)) != 0)
            return rc;
        s->pos++;
        skip_ws(s);
        if (s->pos < s->len && s->t[s->pos] == '}') {
            s->pos++;
            s->nframes--;
            goto value_done;
        }
        goto key;
    case '[':
        if ((rc = push_frame(s, false)) != 0)
            return rc;
        s->pos++;
        skip_ws(s);
        if (s->pos < s->len && s->t[s->pos] == ']') {
            s->pos++;
            s->nframes--;
            goto value_done;
        }
        goto value;
    case '"':
        if ((rc = scan_string(s, &str)) != 0)
            return rc;
        if (s->nframes == 1)
            member = str;
        else if (s->nframes == 0)
            *top = str;
        goto value_done;
    case 't':
        rc = literal(s, "true", 4);
        break;
    case 'f':
        rc = literal(s, "false", 5);
        break;
    case 'n':
        rc = literal(s, "null", 4);
        break;
    default:
        rc = scan_number(s);
        break;
    }
    if (rc != 0)
        return rc;

value_done:
    if (s->nframes == 0) {
        top->len = (size_t)((const char *)s->t + s->pos - top->text);
        skip_ws(s);
        return s->pos == s->len ? 0 : JSON_SCAN_INVALID;
    }
    if (s->nframes == 1 && s->frames[0].is_object && on_member != NULL) {
        const key_ref *k = &s->keys[s->nkeys - 1];
        member.text = (const char *)s->t + member_start;
        member.len = s->pos - member_start;
        member.canonical = !s->odd;
        member.reals = s->reals;
        if ((rc = on_member(arg, k->s, k->len, &member)) != 0)
            return rc;
    }
    skip_ws(s);
    if (s->pos >= s->len)
        return JSON_SCAN_INVALID;
    {
        frame *f = &s->frames[s->nframes - 1];
        unsigned char c = s->t[s->pos++];

        if (c == ',') {
            skip_ws(s);
            if (f->is_object)
                goto key;
            goto value;
        }
        if (f->is_object && c == '}') {
            if (has_duplicate(s->keys + f->key_base, s->nkeys - f->key_base))
                return JSON_SCAN_INVALID;
            s->nkeys = f->key_base;
            s->scratch_used = f->scratch_base;
            s->nframes--;
            goto value_done;
        }
        if (!f->is_object && c == ']') {
            s->nframes--;
            goto value_done;
        }
        return JSON_SCAN_INVALID;
    }

key:
    if (s->pos >= s->len || s->t[s->pos] != '"')
        return JSON_SCAN_INVALID;
    if ((rc = scan_string(s, &str)) != 0 || (rc = push_key(s, &str)) != 0)
        return rc;
    skip_ws(s);
    if (s->pos >= s->len || s->t[s->pos] != ':')
        return JSON_SCAN_INVALID;
    s->pos++;
    skip_ws(s);
    goto value;
}

int json_scan(const char *text, size_t len, json_scan_value *top,
              json_scan_member_fn on_member, void *arg)
{
    scanner s;
    int rc;

    s.t = (const unsigned char *)text;
    s.len = len;
    s.pos = 0;
    s.frames = s.frames_inline;
    s.nframes = 0;
    s.frames_cap = INLINE_FRAMES;
    s.keys = s.keys_inline;
    s.nkeys = 0;
    s.keys_cap = INLINE_KEYS;
    s.scratch = NULL;
    s.scratch_used = 0;
    s.odd = false;
    s.reals = 0;
    memset(top, 0, sizeof *top);

    rc = scan(&s, top, on_member, arg);

    if (s.frames != s.frames_inline)
        free(s.frames);
    if (s.keys != s.keys_inline)
        free(s.keys);
    free(s.scratch);
    return rc;
}

/* Writes code point cp as UTF-8; returns the bytes written. */
static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reads the escape at t[*i] (a backslash) of a string json_scan accepted:
 * returns its code point (a surrogate pair as one) and moves *i past it. */
static uint32_t read_escape(const unsigned char *t, size_t *i)
{
    size_t at = *i;
    uint32_t cp;

    *i = at + 2;
    switch (t[at + 1]) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        cp = (uint32_t)hex4(t, at + 6, at + 2);
        *i = at + 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t low = (uint32_t)hex4(t, at + 12, at + 8);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            *i = at + 12;
        }
        return cp;
    default: /* '"', '\\', '/' */
        return t[at + 1];
    }
}

void json_scan_unescape(const json_scan_value *value, char *out)
{
    const unsigned char *t = (const unsigned char *)value->text;
    size_t n = value->len - 1, i = 1;

    if (!value->escaped) {
        memcpy(out, t + 1, value->dec_len);
        return;
    }
    while (i < n) {
        if (t[i] == '\\')
            out += put_utf8(read_escape(t, &i), out);
        else
            *out++ = (char)t[i++];
    }
}

/* Writes the real number text[0..len) as jansson writes the double it
 * reads from it (jsonp_dtostr with precision 17). */
static size_t put_real(const char *text, size_t len, char *out)
{
    char small[128], *copy = small, buf[40];
    const char *point = localeconv()->decimal_point;
    char *p, *start, *end;
    double value;
    size_t n;

    if (len >= sizeof small) {
        copy = malloc(len + 1);
        if (copy == NULL) {
            /* Cannot happen in practice; the text is still the number. */
            memcpy(out, text, len);
            return len;
        }
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (point[0] != '.' && (p = strchr(copy, '.')) != NULL)
        *p = point[0];
    value = strtod(copy, NULL);
    if (copy != small)
        free(copy);

    n = (size_t)snprintf(buf, sizeof buf, "%.17g", value);
    if (point[0] != '.' && (p = strchr(buf, point[0])) != NULL)
        *p = '.';
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    /* No '+' and no leading zeros in the exponent. */
    start = strchr(buf, 'e');
    if (start != NULL) {
        start++;
        end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, n - (size_t)(end - buf) + 1);
            n -= (size_t)(end - start);
        }
    }
    memcpy(out, buf, n);
    return n;
}

/* Writes code point cp of a string as jansson's dump_string does. */
static size_t put_string_char(uint32_t cp, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char esc = 0;

    switch (cp) {
    case '\\':
        esc = '\\';
        break;
    case '"':
        esc = '"';
        break;
    case '\b':
        esc = 'b';
        break;
    case '\f':
        esc = 'f';
        break;
    case '\n':
        esc = 'n';
        break;
    case '\r':
        esc = 'r';
        break;
    case '\t':
        esc = 't';
        break;
    default:
        break;
    }
    if (esc != 0) {
        out[0] = '\\';
        out[1] = esc;
        return 2;
    }
    if (cp < 0x20) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[cp >> 4];
        out[5] = hex[cp & 15];
        return 6;
    }
    return put_utf8(cp, out);
}

/* Writes the string whose opening quote is at t[i] in jansson's form;
 * *end gets the index after its closing quote.  Returns bytes written. */
static size_t put_string(const unsigned char *t, size_t i, size_t *end,
                         char *out)
{
    size_t w = 0;

    out[w++] = '"';
    for (i++; t[i] != '"';) {
        if (t[i] == '\\')
            w += put_string_char(read_escape(t, &i), out + w);
        else
            out[w++] = (char)t[i++];
    }
    out[w++] = '"';
    *end = i + 1;
    return w;
}

size_t json_scan_copy_canonical(const json_scan_value *value, char *out)
{
    const unsigned char *t = (const unsigned char *)value->text;
    size_t n = value->len, w = 0, i = 0;

    if (value->canonical) {
        memcpy(out, t, n);
        return n;
    }
    while (i < n) {
        unsigned char c = t[i];
        if (is_ws(c)) {
            i++;
        } else if (c == '"') {
            size_t end = i + 1;
            bool escaped = false;
            while (t[end] != '"') {
                if (t[end] == '\\') {
                    escaped = true;
                    end++;
                }
                end++;
            }
            end++;
            if (escaped) {
                w += put_string(t, i, &i, out + w);
            } else {
                memcpy(out + w, t + i, end - i);
                w += end - i;
                i = end;
            }
        } else if (c == '-' || is_digit(c)) {
            size_t end = i + 1;
            bool real = false;
            while (end < n && (is_digit(t[end]) || t[end] == '.' ||
                               t[end] == 'e' || t[end] == 'E' ||
                               t[end] == '+' || t[end] == '-')) {
                real = real || !is_digit(t[end]);
                end++;
            }
            if (real) {
                w += put_real((const char *)t + i, end - i, out + w);
            } else if (end - i == 2 && c == '-' && t[i + 1] == '0') {
                out[w++] = '0';
            } else {
                memcpy(out + w, t + i, end - i);
                w += end - i;
            }
            i = end;
        } else {
            out[w++] = (char)c;
            i++;
        }
    }
    return w;
}

size_t json_scan_skip(const char *text, size_t len, size_t pos)
{
    size_t i = pos, depth = 0;

    if (text[i] != '{' && text[i] != '[' && text[i] != '"') {
        while (i < len && text[i] != ',' && text[i] != ']' && text[i] != '}' &&
               !is_ws((unsigned char)text[i]))
            i++;
        return i;
    }
    for (; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            for (i++; text[i] != '"'; i++) {
                if (text[i] == '\\')
                    i++;
            }
            if (depth == 0)
                return i + 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return len;
}
