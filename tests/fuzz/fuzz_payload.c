/*
 * fuzz_payload.c - libFuzzer target for plugin/payload.c: the client message
 * rewrite (payload_rewrite = payload_parse + payload_render, which checks
 * JSON with plugin/json_scan.c and builds no tree), typing notices
 * (payload_rewrite_typing) and receipts (payload_rewrite_receipt).
 *
 * Byte 0 picks the function (value mod 3: message, typing, receipt) and,
 * in bits 2-3, the limits for messages (default, tiny payload, tiny body,
 * one-character body); the rest is the payload, in an exact-size buffer.
 *
 * Differential: messages also go through a reference written with jansson
 * (the tree parse and dump the plugin used before json_scan.c), and the
 * scanner alone is compared with json_loadb.  Invariants:
 *   - json_scan accepts exactly what json_loadb (JSON_REJECT_DUPLICATES |
 *     JSON_DECODE_ANY) accepts; what it reports of a top-level object's
 *     members (names, values, string lengths and code points) equals
 *     jansson's reading, and its canonical copy of each value equals
 *     jansson's compact dump of it;
 *   - payload_rewrite and the reference give the same verdict, and on
 *     refusal the same code, detail and txn; on success the same txn and
 *     byte for byte the same text, with no control character in it (the
 *     spool keeps one record per line);
 *   - each function accepts exactly what a reference validator written from
 *     payload.h and DESIGN.md accepts, and on refusal names a known error
 *     code, allocates nothing and leaves a readable txn or none;
 *   - an accepted message is rewritten as valid UTF-8 JSON (no duplicate
 *     members) whose first members are id, conv, from and ts from the
 *     stamp, followed only by known fields whose values are the client's;
 *   - rewriting is idempotent: the rewritten text, rewritten again with the
 *     same stamp, comes out byte for byte the same;
 *   - typing notices and receipts come out as exactly their documented
 *     members, with the caller's from, conv and clock.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>

#include "common/ids.h"
#include "common/utf8.h"
#include "fuzz_common.h"
#include "plugin/json_scan.h"
#include "plugin/payload.h"

#define CONV "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define FROM "11111111-1111-4111-8111-111111111111"
#define NOW_MS INT64_C(1750000000123)
/* 123456789 ms after the id epoch, node 7, sequence 42. */
#define STAMP_ID ((UINT64_C(123456789) << 22) | (7u << 12) | 42u)

static const char *const error_codes[] = {
    "too_large",     "invalid_utf8",   "invalid_json",        "invalid_payload",
    "missing_txn",   "invalid_txn",    "unknown_type",        "invalid_body",
    "body_too_long", "invalid_e2e",    "invalid_attachments", "invalid_data",
    "invalid_reply_to", "invalid_receipt", "internal",
};

static void check_error(const payload_error *err)
{
    bool known = false;

    FUZZ_CHECK(err->code != NULL);
    for (size_t i = 0; i < sizeof error_codes / sizeof error_codes[0]; i++)
        known = known || strcmp(err->code, error_codes[i]) == 0;
    FUZZ_CHECK(known);
    FUZZ_CHECK(strnlen(err->detail, sizeof err->detail) < sizeof err->detail);
    FUZZ_CHECK(strnlen(err->txn, sizeof err->txn) < sizeof err->txn);
    FUZZ_CHECK(err->txn[0] == '\0' || payload_txn_valid(err->txn));
}

/* The client's payload as the rules see it: within max bytes, UTF-8, one
 * JSON object without duplicate members.  Returns a new reference or NULL. */
static json_t *ref_object(const char *p, size_t len, size_t max)
{
    json_t *j;

    if (len > max || !ref_utf8_valid(p, len, NULL))
        return NULL;
    j = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool ref_txn(json_t *j)
{
    const char *s = json_string_value(j);
    size_t n;

    if (s == NULL)
        return false;
    n = strlen(s);
    return n >= 1 && n <= PAYLOAD_TXN_MAX && ref_all_in(s, n, "_-");
}

static bool ref_message_ok(json_t *in, const payload_limits *lim)
{
    json_t *type = json_object_get(in, "type");
    json_t *body = json_object_get(in, "body");
    json_t *att = json_object_get(in, "attachments");
    json_t *e2e = json_object_get(in, "e2e");
    json_t *data = json_object_get(in, "data");
    json_t *reply = json_object_get(in, "reply_to");
    const char *t = json_string_value(type);

    if (!ref_txn(json_object_get(in, "txn")) || t == NULL)
        return false;
    if (strcmp(t, "text") == 0) {
        if (body == NULL || att || e2e || data)
            return false;
    } else if (strcmp(t, "media") == 0) {
        size_t i;
        json_t *item;
        if (!json_is_array(att) || json_array_size(att) < 1 ||
            json_array_size(att) > 10 || e2e || data)
            return false;
        json_array_foreach(att, i, item)
        {
            json_t *media = json_object_get(item, "media");
            if (!json_is_object(item) || !json_is_string(media) ||
                json_string_length(media) < 1 ||
                json_string_length(media) > 64)
                return false;
        }
    } else if (strcmp(t, "e2e") == 0) {
        if (!json_is_object(e2e) || body || att || data)
            return false;
    } else if (strcmp(t, "data") == 0) {
        if (!json_is_object(data) || body || att || e2e)
            return false;
    } else {
        return false;
    }
    if (body != NULL) {
        size_t chars = 0;
        if (!json_is_string(body) ||
            !ref_utf8_valid(json_string_value(body), json_string_length(body),
                            &chars) ||
            chars < 1 || chars > lim->max_body_chars)
            return false;
    }
    if (reply != NULL &&
        (!json_is_string(reply) || !ref_decimal_id(json_string_value(reply))))
        return false;
    return true;
}

static void check_rewritten(const payload_rewrite_result *out, json_t *in,
                            const payload_stamp *stamp)
{
    static const char *const first[] = {"id", "conv", "from", "ts"};
    static const char *const fields[] = {"txn",  "type", "body",    "attachments",
                                         "e2e",  "data", "reply_to"};
    char idbuf[32];
    json_t *msg, *v;
    void *it;
    const char *key;
    size_t i = 0;

    FUZZ_CHECK(out->json != NULL && out->len == strlen(out->json));
    FUZZ_CHECK(ref_utf8_valid(out->json, out->len, NULL));
    msg = json_loadb(out->json, out->len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(msg));

    snprintf(idbuf, sizeof idbuf, "%" PRIu64, stamp->id);
    for (it = json_object_iter(msg); it != NULL && i < 4;
         it = json_object_iter_next(msg, it), i++)
        FUZZ_CHECK(strcmp(json_object_iter_key(it), first[i]) == 0);
    FUZZ_CHECK(i == 4);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(msg, "id")), idbuf) ==
               0);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(msg, "conv")),
                      stamp->conv) == 0);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(msg, "from")),
                      stamp->from) == 0);
    v = json_object_get(msg, "ts");
    FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) == stamp->ts_ms);

    /* After the stamp, only known fields, each the client's own value. */
    json_object_foreach(msg, key, v)
    {
        bool is_stamp = false, is_field = false;
        for (size_t k = 0; k < 4; k++)
            is_stamp = is_stamp || strcmp(key, first[k]) == 0;
        if (is_stamp)
            continue;
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            is_field = is_field || strcmp(key, fields[k]) == 0;
        FUZZ_CHECK(is_field);
        FUZZ_CHECK(json_equal(v, json_object_get(in, key)));
    }
    FUZZ_CHECK(json_object_get(msg, "txn") != NULL &&
               json_object_get(msg, "type") != NULL);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(msg, "txn")),
                      out->txn) == 0);
    json_decref(msg);
}


/* ---------------------------------------------------------------------- */
/* The jansson reference: the message rewrite as payload.c did it before   */
/* json_scan.c (tree parse, checks, tree dump), with the same codes and    */
/* details.                                                                */
/* ---------------------------------------------------------------------- */

typedef struct ref_result {
    int rc;
    const char *code;
    char detail[PAYLOAD_ERROR_DETAIL_MAX];
    char txn[PAYLOAD_TXN_MAX + 1];
    json_t *out; /* the rewrite, on success */
} ref_result;

static int ref_fail(ref_result *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ref_fail(ref_result *r, const char *code, const char *fmt, ...)
{
    va_list ap;

    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    r->rc = -1;
    return -1;
}

static int ref_check_fields(const char *type, json_t *in, json_t *out,
                            const payload_limits *lim, ref_result *r)
{
    json_t *body = json_object_get(in, "body");
    json_t *att = json_object_get(in, "attachments");
    json_t *e2e = json_object_get(in, "e2e");
    json_t *data = json_object_get(in, "data");

    if (strcmp(type, "text") == 0) {
        if (body == NULL)
            return ref_fail(r, "invalid_body", "a text message needs a body");
        if (att != NULL || e2e != NULL || data != NULL)
            return ref_fail(r, "invalid_payload",
                            "a text message carries only a body");
    } else if (strcmp(type, "media") == 0) {
        size_t i;
        json_t *item;
        if (att == NULL)
            return ref_fail(r, "invalid_attachments",
                            "a media message needs attachments");
        if (!json_is_array(att) || json_array_size(att) == 0 ||
            json_array_size(att) > 10)
            return ref_fail(r, "invalid_attachments",
                            "attachments must be an array of 1 to %d objects",
                            10);
        json_array_foreach(att, i, item)
        {
            json_t *media = json_object_get(item, "media");
            if (!json_is_object(item) || !json_is_string(media) ||
                json_string_length(media) == 0 ||
                json_string_length(media) > 64)
                return ref_fail(r, "invalid_attachments",
                                "each attachment needs a \"media\" id");
        }
        if (e2e != NULL || data != NULL)
            return ref_fail(r, "invalid_payload",
                            "a media message carries attachments and a "
                            "caption");
    } else if (strcmp(type, "e2e") == 0) {
        if (!json_is_object(e2e))
            return ref_fail(r, "invalid_e2e",
                            "an e2e message needs an \"e2e\" object");
        if (body != NULL || att != NULL || data != NULL)
            return ref_fail(r, "invalid_payload",
                            "an e2e message carries only its e2e object");
    } else if (strcmp(type, "data") == 0) {
        if (!json_is_object(data))
            return ref_fail(r, "invalid_data",
                            "a data message needs a \"data\" object");
        if (body != NULL || att != NULL || e2e != NULL)
            return ref_fail(r, "invalid_payload",
                            "a data message carries only its data object");
    } else {
        return ref_fail(r, "unknown_type", "unknown message type");
    }
    if (body != NULL) {
        size_t chars;
        if (!json_is_string(body))
            return ref_fail(r, "invalid_body", "body must be a string");
        chars = utf8_length(json_string_value(body), json_string_length(body));
        if (chars == 0)
            return ref_fail(r, "invalid_body", "body must not be empty");
        if (chars > lim->max_body_chars)
            return ref_fail(r, "body_too_long",
                            "body has %zu characters, the limit is %zu", chars,
                            lim->max_body_chars);
        json_object_set(out, "body", body);
    }
    if (att != NULL)
        json_object_set(out, "attachments", att);
    if (e2e != NULL)
        json_object_set(out, "e2e", e2e);
    if (data != NULL)
        json_object_set(out, "data", data);
    return 0;
}

/* Fills *r as the jansson rewrite would have answered. */
static void ref_rewrite(const char *p, size_t len, const payload_limits *lim,
                        const payload_stamp *stamp, ref_result *r)
{
    json_t *in, *msg = NULL, *j;
    json_error_t jerr;
    uint64_t reply_id;
    char idbuf[32];

    memset(r, 0, sizeof *r);
    if (len > lim->max_payload_bytes) {
        ref_fail(r, "too_large", "payload is %zu bytes, the limit is %zu", len,
                 lim->max_payload_bytes);
        return;
    }
    if (!utf8_valid(p, len)) {
        ref_fail(r, "invalid_utf8", "payload is not valid UTF-8");
        return;
    }
    in = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (in == NULL) {
        ref_fail(r, "invalid_json", "payload is not JSON: %s", jerr.text);
        return;
    }
    if (!json_is_object(in)) {
        ref_fail(r, "invalid_payload", "payload must be a JSON object");
        goto done;
    }
    j = json_object_get(in, "txn");
    if (j == NULL) {
        ref_fail(r, "missing_txn", "txn is required");
        goto done;
    }
    if (!json_is_string(j) || !payload_txn_valid(json_string_value(j))) {
        ref_fail(r, "invalid_txn", "txn must match [A-Za-z0-9_-]{1,64}");
        goto done;
    }
    strcpy(r->txn, json_string_value(j));
    j = json_object_get(in, "type");
    if (!json_is_string(j)) {
        ref_fail(r, "unknown_type", "type is required");
        goto done;
    }
    snprintf(idbuf, sizeof idbuf, "%" PRIu64, stamp->id);
    msg = json_pack("{s:s,s:s,s:s,s:I,s:s,s:O}", "id", idbuf, "conv",
                    stamp->conv, "from", stamp->from, "ts",
                    (json_int_t)stamp->ts_ms, "txn", r->txn, "type", j);
    FUZZ_CHECK(msg != NULL);
    if (ref_check_fields(json_string_value(j), in, msg, lim, r) != 0)
        goto done;
    j = json_object_get(in, "reply_to");
    if (j != NULL) {
        if (!json_is_string(j) ||
            id_parse(json_string_value(j), &reply_id) != 0) {
            ref_fail(r, "invalid_reply_to", "reply_to must be a message id");
            goto done;
        }
        json_object_set(msg, "reply_to", j);
    }
    r->out = msg;
    msg = NULL;
done:
    json_decref(msg);
    json_decref(in);
}

/* ---------------------------------------------------------------------- */
/* json_scan against json_loadb                                            */
/* ---------------------------------------------------------------------- */

typedef struct member_check {
    json_t *ref; /* the top-level object as jansson reads it */
    size_t seen;
} member_check;

static int check_member(void *arg, const char *key, size_t key_len,
                        const json_scan_value *v)
{
    member_check *m = arg;
    char *name = fuzz_cstr((const uint8_t *)key, key_len);
    json_t *want = json_object_getn(m->ref, key, key_len);
    json_t *got;
    char *copy, *dump;
    size_t n;

    FUZZ_CHECK(want != NULL);
    FUZZ_CHECK(strlen(name) == key_len);
    got = json_loadb(v->text, v->len, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(got != NULL && json_equal(got, want));
    /* The canonical copy is jansson's compact dump of the value. */
    copy = malloc(JSON_SCAN_CANONICAL_MAX(v) + 1);
    FUZZ_CHECK(copy != NULL);
    n = json_scan_copy_canonical(v, copy);
    FUZZ_CHECK(n <= JSON_SCAN_CANONICAL_MAX(v));
    dump = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(dump != NULL);
    FUZZ_CHECK(n == strlen(dump) && memcmp(copy, dump, n) == 0);
    if (v->canonical)
        FUZZ_CHECK(n == v->len && memcmp(copy, v->text, n) == 0);
    free(dump);
    FUZZ_CHECK(json_scan_skip(v->text, v->len, 0) == v->len);
    if (v->kind == JSON_SCAN_STRING) {
        char *dec = malloc(v->dec_len + 1);
        FUZZ_CHECK(json_is_string(want));
        FUZZ_CHECK(v->dec_len == json_string_length(want));
        FUZZ_CHECK(v->chars == utf8_length(json_string_value(want),
                                           json_string_length(want)));
        FUZZ_CHECK(dec != NULL);
        json_scan_unescape(v, dec);
        FUZZ_CHECK(memcmp(dec, json_string_value(want), v->dec_len) == 0);
        free(dec);
    } else {
        FUZZ_CHECK(v->kind == JSON_SCAN_OBJECT ? json_is_object(want)
                   : v->kind == JSON_SCAN_ARRAY ? json_is_array(want)
                   : v->kind == JSON_SCAN_NUMBER ? json_is_number(want)
                   : v->kind == JSON_SCAN_TRUE   ? json_is_true(want)
                   : v->kind == JSON_SCAN_FALSE  ? json_is_false(want)
                                                 : json_is_null(want));
    }
    json_decref(got);
    free(copy);
    free(name);
    m->seen++;
    return 0;
}

static void fuzz_scanner(const char *p, size_t len)
{
    json_t *ref = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                             NULL);
    json_scan_value top;
    member_check m = {ref, 0};
    int rc;

    /* First the verdict alone, then the members of an object. */
    rc = json_scan(p, len, &top, NULL, NULL);
    FUZZ_CHECK(rc == 0 || rc == JSON_SCAN_INVALID);
    if (rc == 0)
        FUZZ_CHECK(utf8_valid(p, len));
    if (utf8_valid(p, len))
        FUZZ_CHECK((rc == 0) == (ref != NULL));
    if (rc == 0 && ref != NULL) {
        FUZZ_CHECK(top.text >= p && top.text + top.len <= p + len);
        FUZZ_CHECK((top.kind == JSON_SCAN_OBJECT) == json_is_object(ref));
        if (json_is_object(ref)) {
            FUZZ_CHECK(json_scan(p, len, &top, check_member, &m) == 0);
            FUZZ_CHECK(m.seen == json_object_size(ref));
        }
    }
    json_decref(ref);
}

static void fuzz_message(const char *p, size_t len, int variant)
{
    static const payload_limits variants[] = {
        {16 * 1024, 4000}, {64, 4000}, {16 * 1024, 8}, {16 * 1024, 1}};
    const payload_limits *lim = &variants[variant];
    const payload_stamp stamp = {STAMP_ID, CONV, FROM, NOW_MS};
    payload_rewrite_result out, again;
    payload_error err;
    json_t *in = ref_object(p, len, lim->max_payload_bytes), *got;
    bool expect = in != NULL && ref_message_ok(in, lim);
    ref_result ref;
    int rc;

    fuzz_scanner(p, len);
    memset(&err, 0, sizeof err);
    rc = payload_rewrite(p, len, lim, &stamp, &out, &err);
    ref_rewrite(p, len, lim, &stamp, &ref);
    FUZZ_TRACE("message: %s\n", rc == 0 ? out.json : err.code);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == ref.rc);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        check_error(&err);
        FUZZ_CHECK(strcmp(err.code, ref.code) == 0);
        FUZZ_CHECK(strcmp(err.detail, ref.detail) == 0);
        FUZZ_CHECK(strcmp(err.txn, ref.txn) == 0);
        FUZZ_CHECK(out.json == NULL);
        if (len > lim->max_payload_bytes)
            FUZZ_CHECK(strcmp(err.code, "too_large") == 0);
        json_decref(in);
        return;
    }
    /* Byte for byte the jansson rewrite (so also the same JSON); one line. */
    got = json_loadb(out.json, out.len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(got != NULL && json_equal(got, ref.out));
    json_decref(got);
    {
        char *want = json_dumps(ref.out, JSON_COMPACT);
        FUZZ_CHECK(want != NULL && strcmp(want, out.json) == 0);
        free(want);
    }
    json_decref(ref.out);
    for (size_t i = 0; i < out.len; i++)
        FUZZ_CHECK((unsigned char)out.json[i] >= 0x20);
    check_rewritten(&out, in, &stamp);
    FUZZ_CHECK(strcmp(out.txn, json_string_value(json_object_get(in, "txn"))) ==
               0);

    /* Idempotent: the server's own output goes through unchanged. */
    payload_limits relaxed = {SIZE_MAX, lim->max_body_chars};
    FUZZ_CHECK(payload_rewrite(out.json, out.len, &relaxed, &stamp, &again,
                               &err) == 0);
    FUZZ_CHECK(again.len == out.len && strcmp(again.json, out.json) == 0);
    FUZZ_CHECK(strcmp(again.txn, out.txn) == 0);
    free(again.json);
    free(out.json);
    json_decref(in);
}

/* Parses an output text and checks it has exactly the given keys. */
static json_t *exact_object(const char *text, size_t len,
                            const char *const *keys, size_t n)
{
    json_t *o;

    FUZZ_CHECK(text != NULL && len == strlen(text));
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(o) && json_object_size(o) == n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(json_object_get(o, keys[i]) != NULL);
    return o;
}

static void fuzz_typing(const char *p, size_t len)
{
    static const char *const keys[] = {"state", "from"};
    payload_error err;
    char *json = NULL;
    size_t json_len = 0;
    json_t *in = ref_object(p, len, 1024), *o;
    const char *state = json_string_value(json_object_get(in, "state"));
    bool expect = state != NULL && (strcmp(state, "typing") == 0 ||
                                    strcmp(state, "paused") == 0);
    int rc = payload_rewrite_typing(p, len, FROM, &json, &json_len, &err);

    FUZZ_TRACE("typing: %s\n", rc == 0 ? json : err.code);

    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        check_error(&err);
        FUZZ_CHECK(json == NULL);
    } else {
        o = exact_object(json, json_len, keys, 2);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "state")),
                          state) == 0);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "from")),
                          FROM) == 0);
        json_decref(o);
    }
    free(json);
    json_decref(in);
}

static void fuzz_receipt(const char *p, size_t len)
{
    static const char *const keys[] = {"type", "up_to", "conv", "from", "ts"};
    payload_error err;
    char *json = NULL;
    size_t json_len = 0;
    json_t *in = ref_object(p, len, 1024), *o, *v;
    const char *type = json_string_value(json_object_get(in, "type"));
    const char *up_to = json_string_value(json_object_get(in, "up_to"));
    bool expect = type != NULL &&
                  (strcmp(type, "delivered") == 0 ||
                   strcmp(type, "read") == 0) &&
                  up_to != NULL && ref_decimal_id(up_to);
    int rc;

    if (expect) {
        /* Not from the future (by the clock in the id), with the skew. */
        uint64_t id = strtoull(up_to, NULL, 10);
        expect = (int64_t)((id >> 22) + PARLEY_ID_EPOCH_MS) <=
                 NOW_MS + PAYLOAD_RECEIPT_SKEW_MS;
    }
    rc = payload_rewrite_receipt(p, len, CONV, FROM, NOW_MS, &json, &json_len,
                                 &err);
    FUZZ_TRACE("receipt: %s\n", rc == 0 ? json : err.code);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        check_error(&err);
        FUZZ_CHECK(json == NULL);
    } else {
        o = exact_object(json, json_len, keys, 5);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "type")),
                          type) == 0);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "up_to")),
                          up_to) == 0);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "conv")),
                          CONV) == 0);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "from")),
                          FROM) == 0);
        v = json_object_get(o, "ts");
        FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) == NOW_MS);
        json_decref(o);
    }
    free(json);
    json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p;
    size_t len;

    if (size < 1)
        return 0;
    len = size - 1;
    p = malloc(len > 0 ? len : 1); /* exact size: no read past len */
    FUZZ_CHECK(p != NULL);
    if (len > 0)
        memcpy(p, data + 1, len);
    switch (data[0] % 3) {
    case 0:
        fuzz_message(p, len, (data[0] >> 2) & 3);
        break;
    case 1:
        fuzz_typing(p, len);
        break;
    default:
        fuzz_receipt(p, len);
        break;
    }
    free(p);
    return 0;
}
