/*
 * json_scan.h - a JSON checker that builds no tree: it accepts exactly the
 * texts jansson 2.14's json_loadb accepts with JSON_REJECT_DUPLICATES |
 * JSON_DECODE_ANY (same grammar, nesting limit, integer range, real
 * overflow, surrogate and \u0000 rules, duplicate keys after unescaping)
 * and reports each member of a top-level object as it goes, with the raw
 * text of its value.
 *
 * It is the hot half of payload.c: the chat message path validates and
 * rewrites a client's payload in one scan instead of building and dumping
 * jansson trees.  Pure; no allocation unless an object has escaped keys or
 * the nesting is deep.  The text must already be known to hold no NUL byte
 * only for the verdict "valid UTF-8"; the scanner checks UTF-8 itself
 * inside strings and refuses any non-ASCII byte outside them.
 */
#ifndef PARLEY_JSON_SCAN_H
#define PARLEY_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* jansson's JSON_PARSER_MAX_DEPTH: a value nested in more than this many
 * containers minus one is refused. */
#define JSON_SCAN_MAX_DEPTH 2048

typedef enum json_scan_kind {
    JSON_SCAN_STRING = 1,
    JSON_SCAN_NUMBER,
    JSON_SCAN_OBJECT,
    JSON_SCAN_ARRAY,
    JSON_SCAN_TRUE,
    JSON_SCAN_FALSE,
    JSON_SCAN_NULL,
} json_scan_kind;

/* One value as it appears in the text. */
typedef struct json_scan_value {
    json_scan_kind kind;
    const char *text; /* its raw text (a string with its quotes) */
    size_t len;
    /* The text is already what jansson's json_dumps(JSON_COMPACT) writes
     * for the value: no whitespace outside strings, no escape, no real
     * number and no -0.  Set for members of a top-level object. */
    bool canonical;
    size_t reals; /* real numbers in it (members of a top-level object) */
    /* Strings only: */
    bool escaped;     /* holds a backslash escape */
    size_t dec_len;   /* bytes once unescaped */
    size_t chars;     /* code points once unescaped */
} json_scan_value;

/* Called for each member of a top-level object, in order, once its value
 * is scanned (the text may still turn out invalid later).  key is the
 * unescaped name (not NUL-terminated).  Return 0 to go on, anything else
 * to stop the scan, which then returns that value. */
typedef int (*json_scan_member_fn)(void *arg, const char *key, size_t key_len,
                                   const json_scan_value *value);

#define JSON_SCAN_INVALID (-1) /* not JSON, as json_loadb would say */
#define JSON_SCAN_NOMEM (-2)

/* Checks text[0..len) and fills *top with the top-level value.  Calls
 * on_member (may be NULL) for the members of a top-level object.  Returns
 * 0, JSON_SCAN_INVALID, JSON_SCAN_NOMEM or what on_member returned. */
int json_scan(const char *text, size_t len, json_scan_value *top,
              json_scan_member_fn on_member, void *arg);

/* Writes the unescaped bytes of a string value that json_scan accepted
 * (value->dec_len of them) to out.  No NUL is added. */
void json_scan_unescape(const json_scan_value *value, char *out);

/* Most bytes json_scan_copy_canonical writes for a value. */
#define JSON_SCAN_CANONICAL_MAX(v) ((v)->len + 26 * (v)->reals)

/* Writes a value json_scan accepted (a member of a top-level object) to out
 * exactly as jansson's json_dumps(JSON_COMPACT) writes it after
 * json_loadb: no whitespace outside strings, strings re-escaped the way
 * jansson escapes them, integers in plain decimal, reals as "%.17g" with
 * jansson's touches.  Returns the bytes written (at most
 * JSON_SCAN_CANONICAL_MAX(value)). */
size_t json_scan_copy_canonical(const json_scan_value *value, char *out);

/* For a text json_scan accepted: the end of the value starting at
 * text[pos] (no whitespace before it). */
size_t json_scan_skip(const char *text, size_t len, size_t pos);

#endif
