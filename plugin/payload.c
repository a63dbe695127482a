/*
 * payload.c - validation and server rewrite of chat messages (see payload.h):
 * chat messages through json_scan.c, one scan and one allocation for the
 * rewrite; typing notices and receipts through jansson.
 */
#include "payload.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "json_scan.h"
#include "utf8.h"

#define MAX_ATTACHMENTS 10
#define MEDIA_ID_MAX 64

static int fail(payload_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(payload_error *err, const char *code, const char *fmt, ...)
{
    va_list ap;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return -1;
}

int payload_txn_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= PAYLOAD_TXN_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* Parses the payload as one JSON object, after the size and UTF-8 checks.
 * Returns a new reference or NULL with *err filled. */
static json_t *parse_object(const void *payload, size_t len, size_t max,
                            payload_error *err)
{
    json_t *obj;
    json_error_t jerr;

    if (len > max) {
        fail(err, "too_large", "payload is %zu bytes, the limit is %zu", len,
             max);
        return NULL;
    }
    if (!utf8_valid(payload, len)) {
        fail(err, "invalid_utf8", "payload is not valid UTF-8");
        return NULL;
    }
    obj = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                     &jerr);
    if (obj == NULL) {
        fail(err, "invalid_json", "payload is not JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        fail(err, "invalid_payload", "payload must be a JSON object");
        return NULL;
    }
    return obj;
}

/* The known members of a client's message, as json_scan reports them
 * (kind 0: absent). */
typedef struct message_fields {
    json_scan_value txn, type, body, attachments, e2e, data, reply_to;
} message_fields;

static bool key_is(const char *key, size_t len, const char *name, size_t n)
{
    return len == n && memcmp(key, name, n) == 0;
}

#define KEY_IS(key, len, lit) key_is(key, len, lit, sizeof(lit) - 1)

static int remember_field(void *arg, const char *key, size_t len,
                          const json_scan_value *value)
{
    message_fields *f = arg;

    if (KEY_IS(key, len, "txn"))
        f->txn = *value;
    else if (KEY_IS(key, len, "type"))
        f->type = *value;
    else if (KEY_IS(key, len, "body"))
        f->body = *value;
    else if (KEY_IS(key, len, "attachments"))
        f->attachments = *value;
    else if (KEY_IS(key, len, "e2e"))
        f->e2e = *value;
    else if (KEY_IS(key, len, "data"))
        f->data = *value;
    else if (KEY_IS(key, len, "reply_to"))
        f->reply_to = *value;
    return 0; /* anything else is dropped */
}

/* The unescaped text of a string value of at most max bytes into buf
 * (max + 1 bytes), NUL-terminated.  Returns false if it is not a string or
 * is longer. */
static bool string_value(const json_scan_value *v, char *buf, size_t max)
{
    if (v->kind != JSON_SCAN_STRING || v->dec_len > max)
        return false;
    json_scan_unescape(v, buf);
    buf[v->dec_len] = '\0';
    return true;
}

/* Why json_scan refused a payload, in the words the jansson parse used:
 * bad UTF-8 anywhere comes first, then jansson's own message (the refusal
 * is rare, so asking jansson again costs nothing on the hot path). */
static int fail_scan(const void *payload, size_t len, int rc,
                     payload_error *err)
{
    json_error_t jerr;
    json_t *j;

    if (rc == JSON_SCAN_NOMEM)
        return fail(err, "internal", "out of memory");
    if (!utf8_valid(payload, len))
        return fail(err, "invalid_utf8", "payload is not valid UTF-8");
    j = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                   &jerr);
    if (j != NULL) {
        /* Never expected (the fuzzer compares the two): refuse anyway. */
        json_decref(j);
        return fail(err, "invalid_json", "payload is not JSON: %s",
                    "unsupported text");
    }
    return fail(err, "invalid_json", "payload is not JSON: %s", jerr.text);
}

static int check_body(const json_scan_value *body, const payload_limits *limits,
                      payload_error *err)
{
    if (body->kind != JSON_SCAN_STRING)
        return fail(err, "invalid_body", "body must be a string");
    if (body->chars == 0)
        return fail(err, "invalid_body", "body must not be empty");
    if (body->chars > limits->max_body_chars)
        return fail(err, "body_too_long",
                    "body has %zu characters, the limit is %zu", body->chars,
                    limits->max_body_chars);
    return 0;
}

static int remember_media(void *arg, const char *key, size_t len,
                          const json_scan_value *value)
{
    if (KEY_IS(key, len, "media"))
        *(json_scan_value *)arg = *value;
    return 0;
}

/* True if the attachment (an element json_scan accepted) is an object with
 * a "media" string of 1 to MEDIA_ID_MAX bytes. */
static bool attachment_ok(const char *text, size_t len)
{
    json_scan_value top, media;

    if (text[0] != '{')
        return false;
    memset(&media, 0, sizeof media);
    if (json_scan(text, len, &top, remember_media, &media) != 0)
        return false;
    return media.kind == JSON_SCAN_STRING && media.dec_len > 0 &&
           media.dec_len <= MEDIA_ID_MAX;
}

static int check_attachments(const json_scan_value *list, payload_error *err)
{
    const char *t = list->text;
    size_t n = list->len, pos = 1, count = 0;
    bool items_ok = true;

    if (list->kind == JSON_SCAN_ARRAY) {
        for (;;) {
            size_t end;
            while (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\n' ||
                   t[pos] == '\r' || t[pos] == ',')
                pos++;
            if (t[pos] == ']' || ++count > MAX_ATTACHMENTS)
                break;
            end = json_scan_skip(t, n, pos);
            if (items_ok && !attachment_ok(t + pos, end - pos))
                items_ok = false;
            pos = end;
        }
    }
    if (list->kind != JSON_SCAN_ARRAY || count == 0 || count > MAX_ATTACHMENTS)
        return fail(err, "invalid_attachments",
                    "attachments must be an array of 1 to %d objects",
                    MAX_ATTACHMENTS);
    if (!items_ok)
        return fail(err, "invalid_attachments",
                    "each attachment needs a \"media\" id");
    return 0;
}

#define PRESENT(v) ((v).kind != 0)

/* Checks the fields each type needs, in the order the rules are stated. */
static int check_type_fields(const message_fields *f, payload_type type,
                             const payload_limits *limits, payload_error *err)
{
    switch (type) {
    case PAYLOAD_TEXT:
        if (!PRESENT(f->body))
            return fail(err, "invalid_body", "a text message needs a body");
        if (PRESENT(f->attachments) || PRESENT(f->e2e) || PRESENT(f->data))
            return fail(err, "invalid_payload",
                        "a text message carries only a body");
        break;
    case PAYLOAD_MEDIA:
        if (!PRESENT(f->attachments))
            return fail(err, "invalid_attachments",
                        "a media message needs attachments");
        if (check_attachments(&f->attachments, err) != 0)
            return -1;
        if (PRESENT(f->e2e) || PRESENT(f->data))
            return fail(err, "invalid_payload",
                        "a media message carries attachments and a caption");
        break;
    case PAYLOAD_E2E:
        if (f->e2e.kind != JSON_SCAN_OBJECT)
            return fail(err, "invalid_e2e",
                        "an e2e message needs an \"e2e\" object");
        if (PRESENT(f->body) || PRESENT(f->attachments) || PRESENT(f->data))
            return fail(err, "invalid_payload",
                        "an e2e message carries only its e2e object");
        break;
    case PAYLOAD_DATA:
        if (f->data.kind != JSON_SCAN_OBJECT)
            return fail(err, "invalid_data",
                        "a data message needs a \"data\" object");
        if (PRESENT(f->body) || PRESENT(f->attachments) || PRESENT(f->e2e))
            return fail(err, "invalid_payload",
                        "a data message carries only its data object");
        break;
    }
    if (PRESENT(f->body) && check_body(&f->body, limits, err) != 0)
        return -1;
    return 0;
}

/* The message type named by a string value, or 0. */
static payload_type parse_type(const json_scan_value *v)
{
    char name[8];

    if (!string_value(v, name, sizeof name - 1))
        return 0;
    if (strcmp(name, "text") == 0)
        return PAYLOAD_TEXT;
    if (strcmp(name, "media") == 0)
        return PAYLOAD_MEDIA;
    if (strcmp(name, "e2e") == 0)
        return PAYLOAD_E2E;
    if (strcmp(name, "data") == 0)
        return PAYLOAD_DATA;
    return 0;
}

static payload_span span_of(const json_scan_value *v)
{
    payload_span s = {NULL, 0, true, 0};

    if (PRESENT(*v)) {
        s.text = v->text;
        s.len = v->len;
        s.canonical = v->canonical;
        s.reals = v->reals;
    }
    return s;
}

static int parse_message(const void *payload, size_t len,
                         const payload_limits *limits, payload_message *out,
                         payload_error *err)
{
    message_fields f;
    json_scan_value top;
    uint64_t reply_id;
    int rc;

    memset(out, 0, sizeof *out);
    err->code = NULL;
    err->detail[0] = '\0';
    err->txn[0] = '\0';
    if (len > limits->max_payload_bytes)
        return fail(err, "too_large", "payload is %zu bytes, the limit is %zu",
                    len, limits->max_payload_bytes);
    memset(&f, 0, sizeof f);
    rc = json_scan(payload, len, &top, remember_field, &f);
    if (rc != 0)
        return fail_scan(payload, len, rc, err);
    if (top.kind != JSON_SCAN_OBJECT)
        return fail(err, "invalid_payload", "payload must be a JSON object");

    if (!PRESENT(f.txn))
        return fail(err, "missing_txn", "txn is required");
    if (!string_value(&f.txn, out->txn, PAYLOAD_TXN_MAX) ||
        !payload_txn_valid(out->txn))
        return fail(err, "invalid_txn", "txn must match [A-Za-z0-9_-]{1,64}");
    strcpy(err->txn, out->txn);

    if (f.type.kind != JSON_SCAN_STRING)
        return fail(err, "unknown_type", "type is required");
    out->type = parse_type(&f.type);
    if (out->type == 0)
        return fail(err, "unknown_type", "unknown message type");
    if (check_type_fields(&f, out->type, limits, err) != 0)
        return -1;

    if (PRESENT(f.reply_to) &&
        (!string_value(&f.reply_to, out->reply_to, PARLEY_ID_STR_MAX) ||
         id_parse(out->reply_to, &reply_id) != 0))
        return fail(err, "invalid_reply_to", "reply_to must be a message id");

    out->body = span_of(&f.body);
    out->attachments = span_of(&f.attachments);
    out->e2e = span_of(&f.e2e);
    out->data = span_of(&f.data);
    return 0;
}

int payload_parse(const void *payload, size_t len, const payload_limits *limits,
                  payload_message *out, payload_error *err)
{
    if (parse_message(payload, len, limits, out, err) == 0)
        return 0;
    memset(out, 0, sizeof *out); /* nothing half-filled on refusal */
    return -1;
}

static const char *type_name(payload_type type)
{
    switch (type) {
    case PAYLOAD_TEXT:
        return "text";
    case PAYLOAD_MEDIA:
        return "media";
    case PAYLOAD_E2E:
        return "e2e";
    case PAYLOAD_DATA:
        return "data";
    }
    return "";
}

static char *put(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

#define PUT_LIT(w, lit) put(w, lit, sizeof(lit) - 1)

/* Writes v in decimal (snprintf is a good part of the render's cost). */
static char *put_u64(char *w, uint64_t v)
{
    char digits[20];
    size_t n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *w++ = digits[--n];
    return w;
}

static char *put_i64(char *w, int64_t v)
{
    if (v >= 0)
        return put_u64(w, (uint64_t)v);
    *w++ = '-';
    return put_u64(w, 0 - (uint64_t)v);
}

/* ,"name":<value>, the value as jansson would write it. */
static char *put_span(char *w, const char *member, size_t member_len,
                      const payload_span *span)
{
    json_scan_value v;

    if (span->text == NULL)
        return w;
    w = put(w, member, member_len);
    memset(&v, 0, sizeof v);
    v.text = span->text;
    v.len = span->len;
    v.canonical = span->canonical;
    v.reals = span->reals;
    return w + json_scan_copy_canonical(&v, w);
}

#define PUT_SPAN(w, lit, span) put_span(w, lit, sizeof(lit) - 1, span)

static size_t span_max(const payload_span *span)
{
    return JSON_SCAN_CANONICAL_MAX(span);
}

int payload_render(const payload_message *msg, const payload_stamp *stamp,
                   payload_rewrite_result *out)
{
    /* Everything but the client's values and the stamp's strings. */
    static const char fixed[] =
        "{\"id\":\"\",\"conv\":\"\",\"from\":\"\",\"ts\":,\"txn\":\"\","
        "\"type\":\"\",\"body\":,\"attachments\":,\"e2e\":,\"data\":,"
        "\"reply_to\":\"\"}";
    const char *type = type_name(msg->type);
    size_t conv_len = strlen(stamp->conv), from_len = strlen(stamp->from);
    size_t txn_len = strlen(msg->txn), reply_len = strlen(msg->reply_to);
    size_t max;
    char *buf, *w;

    memset(out, 0, sizeof *out);
    max = sizeof fixed + 2 * 20 + conv_len + from_len + txn_len + strlen(type) +
          span_max(&msg->body) + span_max(&msg->attachments) +
          span_max(&msg->e2e) + span_max(&msg->data) + reply_len;
    buf = malloc(max);
    if (buf == NULL)
        return -1;
    w = PUT_LIT(buf, "{\"id\":\"");
    w = put_u64(w, stamp->id);
    w = PUT_LIT(w, "\",\"conv\":\"");
    w = put(w, stamp->conv, conv_len);
    w = PUT_LIT(w, "\",\"from\":\"");
    w = put(w, stamp->from, from_len);
    w = PUT_LIT(w, "\",\"ts\":");
    w = put_i64(w, stamp->ts_ms);
    w = PUT_LIT(w, ",\"txn\":\"");
    w = put(w, msg->txn, txn_len);
    w = PUT_LIT(w, "\",\"type\":\"");
    w = put(w, type, strlen(type));
    *w++ = '"';
    w = PUT_SPAN(w, ",\"body\":", &msg->body);
    w = PUT_SPAN(w, ",\"attachments\":", &msg->attachments);
    w = PUT_SPAN(w, ",\"e2e\":", &msg->e2e);
    w = PUT_SPAN(w, ",\"data\":", &msg->data);
    if (reply_len > 0) {
        w = PUT_LIT(w, ",\"reply_to\":\"");
        w = put(w, msg->reply_to, reply_len);
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    out->json = buf;
    out->len = (size_t)(w - buf);
    strcpy(out->txn, msg->txn);
    return 0;
}

void payload_message_free(payload_message *msg)
{
    (void)msg;
}

int payload_rewrite(const void *payload, size_t len,
                    const payload_limits *limits, const payload_stamp *stamp,
                    payload_rewrite_result *out, payload_error *err)
{
    payload_message msg;
    int rc;

    memset(out, 0, sizeof *out);
    if (payload_parse(payload, len, limits, &msg, err) != 0)
        return -1;
    rc = payload_render(&msg, stamp, out);
    if (rc != 0)
        fail(err, "internal", "out of memory");
    payload_message_free(&msg);
    return rc;
}

int payload_rewrite_typing(const void *payload, size_t len, const char *from,
                           char **json, size_t *json_len, payload_error *err)
{
    json_t *in, *state, *msg;
    int rc = -1;

    err->code = NULL;
    err->detail[0] = '\0';
    err->txn[0] = '\0';
    in = parse_object(payload, len, 1024, err);
    if (in == NULL)
        return -1;
    state = json_object_get(in, "state");
    if (!json_is_string(state) ||
        (strcmp(json_string_value(state), "typing") != 0 &&
         strcmp(json_string_value(state), "paused") != 0)) {
        fail(err, "invalid_payload", "state must be \"typing\" or \"paused\"");
        json_decref(in);
        return -1;
    }
    msg = json_pack("{s:O,s:s}", "state", state, "from", from);
    if (msg != NULL)
        *json = json_dumps(msg, JSON_COMPACT);
    if (msg == NULL || *json == NULL)
        fail(err, "internal", "out of memory");
    else {
        *json_len = strlen(*json);
        rc = 0;
    }
    json_decref(msg);
    json_decref(in);
    return rc;
}

int payload_rewrite_receipt(const void *payload, size_t len, const char *conv,
                            const char *from, int64_t now_ms, char **json,
                            size_t *json_len, payload_error *err)
{
    json_t *in, *type, *up_to, *msg = NULL;
    uint64_t id;
    int rc = -1;

    err->code = NULL;
    err->detail[0] = '\0';
    err->txn[0] = '\0';
    in = parse_object(payload, len, 1024, err);
    if (in == NULL)
        return -1;
    type = json_object_get(in, "type");
    up_to = json_object_get(in, "up_to");
    if (!json_is_string(type) ||
        (strcmp(json_string_value(type), "delivered") != 0 &&
         strcmp(json_string_value(type), "read") != 0)) {
        fail(err, "invalid_receipt", "type must be \"delivered\" or \"read\"");
        goto done;
    }
    if (!json_is_string(up_to) || id_parse(json_string_value(up_to), &id) != 0) {
        fail(err, "invalid_receipt", "up_to must be a message id");
        goto done;
    }
    if ((int64_t)id_unix_ms(id) > now_ms + PAYLOAD_RECEIPT_SKEW_MS) {
        fail(err, "invalid_receipt", "up_to names a message from the future");
        goto done;
    }
    msg = json_pack("{s:O,s:O,s:s,s:s,s:I}", "type", type, "up_to", up_to,
                    "conv", conv, "from", from, "ts", (json_int_t)now_ms);
    *json = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (*json == NULL) {
        fail(err, "internal", "out of memory");
        goto done;
    }
    *json_len = strlen(*json);
    rc = 0;
done:
    json_decref(msg);
    json_decref(in);
    return rc;
}
