/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/:
 * the invariant check macro, a NUL-terminated copy of the input, and small
 * reference implementations (base64url, UTF-8 and text labels, uuids,
 * decimal ids, an MQTT filter matcher) written independently of the
 * project code, so a target can compare the project's answer with a second
 * opinion instead of only "did not crash".
 *
 * Header-only (static functions): each target is one translation unit.
 */
#ifndef PARLEY_FUZZ_COMMON_H
#define PARLEY_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant that must hold for every input.  On failure, say which one
 * and abort, which libFuzzer reports as a crash and saves the input. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond,      \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Prints a line about an input's verdict when the target is built with
 * -DFUZZ_VERBOSE (to check by hand what the seeds reach), else nothing. */
#ifdef FUZZ_VERBOSE
#define FUZZ_TRACE(...) fprintf(stderr, "trace: " __VA_ARGS__)
#else
#define FUZZ_TRACE(...) ((void)0)
#endif

/* A malloc'd copy of data[0..size) with a NUL after it (the copy may hold
 * earlier NULs; C-string consumers then see only the first part).  Aborts
 * on allocation failure, which never happens under libFuzzer's limits. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    FUZZ_CHECK(s != NULL);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* ---------------------------------------------------------------------- */
/* base64url (RFC 4648 section 5, unpadded)                                */
/* ---------------------------------------------------------------------- */

static const char fuzz_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes in[0..n) without padding.  Returns a malloc'd NUL-terminated
 * string of ceil(4n/3) characters. */
static inline char *ref_b64url_encode(const unsigned char *in, size_t n)
{
    size_t outlen = n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
    char *out = malloc(outlen + 1);
    size_t o = 0;

    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t v = (uint32_t)in[i] << 16;
        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = fuzz_b64url_alphabet[(v >> 18) & 63];
        out[o++] = fuzz_b64url_alphabet[(v >> 12) & 63];
        if (left > 1)
            out[o++] = fuzz_b64url_alphabet[(v >> 6) & 63];
        if (left > 2)
            out[o++] = fuzz_b64url_alphabet[v & 63];
    }
    FUZZ_CHECK(o == outlen);
    out[o] = '\0';
    return out;
}

/* Lenient decoder: every character must be in the alphabet and the length
 * not 1 mod 4; leftover low bits are ignored.  Returns a malloc'd buffer
 * (n bytes plus a NUL) with *n set, or NULL. */
static inline unsigned char *ref_b64url_decode(const char *in, size_t len,
                                               size_t *n)
{
    unsigned char *out;
    size_t groups = len / 4, rest = len % 4, o = 0;

    if (rest == 1)
        return NULL;
    out = malloc(groups * 3 + 3);
    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t k = len - i < 4 ? len - i : 4;
        for (size_t j = 0; j < 4; j++) {
            const char *p;
            v <<= 6;
            if (j >= k)
                continue;
            p = in[i + j] != '\0' ? strchr(fuzz_b64url_alphabet, in[i + j])
                                  : NULL;
            if (p == NULL) {
                free(out);
                return NULL;
            }
            v |= (uint32_t)(p - fuzz_b64url_alphabet);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (k > 2)
            out[o++] = (unsigned char)(v >> 8);
        if (k > 3)
            out[o++] = (unsigned char)v;
    }
    out[o] = '\0';
    *n = o;
    return out;
}

/* ---------------------------------------------------------------------- */
/* UTF-8 (Unicode 15, table 3-7 "well-formed byte sequences")              */
/* ---------------------------------------------------------------------- */

/* Length of the well-formed sequence at s[0..n), or 0 if there is none.
 * NUL is refused, as the project's utf8_valid does. */
static inline size_t ref_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char a = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (a == 0x00)
        return 0;
    if (a <= 0x7f)
        return 1;
    if (a >= 0xc2 && a <= 0xdf)
        len = 2;
    else if (a >= 0xe0 && a <= 0xef) {
        len = 3;
        if (a == 0xe0)
            lo = 0xa0;
        if (a == 0xed)
            hi = 0x9f;
    } else if (a >= 0xf0 && a <= 0xf4) {
        len = 4;
        if (a == 0xf0)
            lo = 0x90;
        if (a == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++) {
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    }
    return len;
}

/* True if s[0..n) is well-formed UTF-8 without NUL; *chars gets the number
 * of code points (may be NULL). */
static inline bool ref_utf8_valid(const void *buf, size_t n, size_t *chars)
{
    const unsigned char *s = buf;
    size_t i = 0, count = 0;

    while (i < n) {
        size_t len = ref_utf8_seq(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
        count++;
    }
    if (chars != NULL)
        *chars = count;
    return true;
}

/* The code point of the well-formed sequence of len bytes at s. */
static inline uint32_t ref_utf8_code_point(const unsigned char *s, size_t len)
{
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = s[0] & lead_mask[len];

    for (size_t k = 1; k < len; k++)
        cp = cp << 6 | (s[k] & 0x3f);
    return cp;
}

/* A display name or title as validate.h defines it: valid UTF-8 of
 * 1..max_chars code points, no C0 control, DEL or C1 control, and
 * something other than spaces. */
static inline bool ref_text_label(const char *buf, size_t len,
                                  size_t max_chars)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0, chars = 0;
    bool visible = false;

    if (len == 0)
        return false;
    while (i < len) {
        size_t l = ref_utf8_seq(s + i, len - i);
        uint32_t cp;
        if (l == 0)
            return false;
        cp = ref_utf8_code_point(s + i, l);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return false;
        if (cp != ' ')
            visible = true;
        chars++;
        i += l;
    }
    return chars <= max_chars && visible;
}

/* ---------------------------------------------------------------------- */
/* Small string helpers                                                    */
/* ---------------------------------------------------------------------- */

/* True if every byte of s[0..n) is in [A-Za-z0-9] or in extra. */
static inline bool ref_all_in(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9');
        if (!alnum && (c == '\0' || strchr(extra, c) == NULL))
            return false;
    }
    return true;
}

/* True if s is a canonical lower-case UUID (8-4-4-4-12), checked without
 * the project's uuid.c. */
static inline bool ref_uuid_valid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* True if s is a canonical decimal in 0..INT64_MAX: digits only, no
 * leading zero (except "0" itself), at most 19 digits. */
static inline bool ref_decimal_id(const char *s)
{
    static const char max[] = "9223372036854775807";
    size_t n = strlen(s);

    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return n < 19 || strcmp(s, max) <= 0;
}

/* ---------------------------------------------------------------------- */
/* MQTT topic filter matching (MQTT 5.0, section 4.7)                      */
/* ---------------------------------------------------------------------- */

/* True if filter matches the concrete topic.  Wildcards at the first level
 * do not match topics starting with '$'. */
static inline bool ref_mqtt_match(const char *filter, const char *topic)
{
    const char *f = filter, *t = topic;

    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    for (;;) {
        size_t flen = strcspn(f, "/"), tlen = strcspn(t, "/");
        if (flen == 1 && f[0] == '#' && f[1] == '\0')
            return true; /* matches this level and everything below */
        if (!(flen == 1 && f[0] == '+') &&
            (flen != tlen || strncmp(f, t, flen) != 0))
            return false;
        f += flen;
        t += tlen;
        if (*f == '\0' && *t == '\0')
            return true;
        if (*f == '\0')
            return false;
        /* "a/#" also matches "a" */
        if (*t == '\0')
            return strcmp(f, "/#") == 0;
        f++;
        t++;
    }
}

#endif
