/*
 * payload.c - validation and server rewrite of chat messages (see payload.h).
 */
#include "payload.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
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

static int check_body(json_t *body, const payload_limits *limits,
                      payload_error *err)
{
    size_t chars;

    if (!json_is_string(body))
        return fail(err, "invalid_body", "body must be a string");
    chars = utf8_length(json_string_value(body), json_string_length(body));
    if (chars == 0)
        return fail(err, "invalid_body", "body must not be empty");
    if (chars > limits->max_body_chars)
        return fail(err, "body_too_long",
                    "body has %zu characters, the limit is %zu", chars,
                    limits->max_body_chars);
    return 0;
}

static int check_attachments(json_t *list, payload_error *err)
{
    size_t i;
    json_t *item;

    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > MAX_ATTACHMENTS)
        return fail(err, "invalid_attachments",
                    "attachments must be an array of 1 to %d objects",
                    MAX_ATTACHMENTS);
    json_array_foreach(list, i, item)
    {
        json_t *media = json_object_get(item, "media");
        if (!json_is_object(item) || !json_is_string(media) ||
            json_string_length(media) == 0 ||
            json_string_length(media) > MEDIA_ID_MAX)
            return fail(err, "invalid_attachments",
                        "each attachment needs a \"media\" id");
    }
    return 0;
}

/* Checks the fields each type needs and copies the allowed ones into out. */
static int check_type_fields(const char *type, json_t *in, json_t *out,
                             const payload_limits *limits, payload_error *err)
{
    json_t *body = json_object_get(in, "body");
    json_t *attachments = json_object_get(in, "attachments");
    json_t *e2e = json_object_get(in, "e2e");
    json_t *data = json_object_get(in, "data");

    if (strcmp(type, "text") == 0) {
        if (body == NULL)
            return fail(err, "invalid_body", "a text message needs a body");
        if (attachments != NULL || e2e != NULL || data != NULL)
            return fail(err, "invalid_payload",
                        "a text message carries only a body");
    } else if (strcmp(type, "media") == 0) {
        if (attachments == NULL)
            return fail(err, "invalid_attachments",
                        "a media message needs attachments");
        if (check_attachments(attachments, err) != 0)
            return -1;
        if (e2e != NULL || data != NULL)
            return fail(err, "invalid_payload",
                        "a media message carries attachments and a caption");
    } else if (strcmp(type, "e2e") == 0) {
        if (!json_is_object(e2e))
            return fail(err, "invalid_e2e",
                        "an e2e message needs an \"e2e\" object");
        if (body != NULL || attachments != NULL || data != NULL)
            return fail(err, "invalid_payload",
                        "an e2e message carries only its e2e object");
    } else if (strcmp(type, "data") == 0) {
        if (!json_is_object(data))
            return fail(err, "invalid_data",
                        "a data message needs a \"data\" object");
        if (body != NULL || attachments != NULL || e2e != NULL)
            return fail(err, "invalid_payload",
                        "a data message carries only its data object");
    } else {
        return fail(err, "unknown_type", "unknown message type");
    }

    if (body != NULL) {
        if (check_body(body, limits, err) != 0)
            return -1;
        json_object_set(out, "body", body);
    }
    if (attachments != NULL)
        json_object_set(out, "attachments", attachments);
    if (e2e != NULL)
        json_object_set(out, "e2e", e2e);
    if (data != NULL)
        json_object_set(out, "data", data);
    return 0;
}

int payload_parse(const void *payload, size_t len, const payload_limits *limits,
                  payload_message *out, payload_error *err)
{
    json_t *in, *msg = NULL, *j;
    const char *type;
    uint64_t reply_id;
    int rc = -1;

    memset(out, 0, sizeof *out);
    err->code = NULL;
    err->detail[0] = '\0';
    err->txn[0] = '\0';

    in = parse_object(payload, len, limits->max_payload_bytes, err);
    if (in == NULL)
        return -1;

    j = json_object_get(in, "txn");
    if (j == NULL) {
        fail(err, "missing_txn", "txn is required");
        goto done;
    }
    if (!json_is_string(j) || !payload_txn_valid(json_string_value(j))) {
        fail(err, "invalid_txn", "txn must match [A-Za-z0-9_-]{1,64}");
        goto done;
    }
    strcpy(err->txn, json_string_value(j));

    j = json_object_get(in, "type");
    if (!json_is_string(j)) {
        fail(err, "unknown_type", "type is required");
        goto done;
    }
    type = json_string_value(j);

    msg = json_object();
    if (msg == NULL ||
        json_object_set_new(msg, "txn", json_string(err->txn)) != 0 ||
        json_object_set(msg, "type", j) != 0) {
        fail(err, "internal", "out of memory");
        goto done;
    }
    if (check_type_fields(type, in, msg, limits, err) != 0)
        goto done;

    j = json_object_get(in, "reply_to");
    if (j != NULL) {
        if (!json_is_string(j) ||
            id_parse(json_string_value(j), &reply_id) != 0) {
            fail(err, "invalid_reply_to", "reply_to must be a message id");
            goto done;
        }
        json_object_set(msg, "reply_to", j);
    }
    strcpy(out->txn, err->txn);
    out->fields = msg;
    msg = NULL;
    rc = 0;

done:
    json_decref(msg);
    json_decref(in);
    return rc;
}

int payload_render(const payload_message *msg, const payload_stamp *stamp,
                   payload_rewrite_result *out)
{
    char idbuf[PARLEY_ID_STR_MAX + 1];
    json_t *full = json_object();
    int rc = -1;

    memset(out, 0, sizeof *out);
    snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)stamp->id);
    if (full == NULL ||
        json_object_set_new(full, "id", json_string(idbuf)) != 0 ||
        json_object_set_new(full, "conv", json_string(stamp->conv)) != 0 ||
        json_object_set_new(full, "from", json_string(stamp->from)) != 0 ||
        json_object_set_new(full, "ts", json_integer(stamp->ts_ms)) != 0 ||
        json_object_update(full, msg->fields) != 0)
        goto done;
    out->json = json_dumps(full, JSON_COMPACT);
    if (out->json == NULL)
        goto done;
    out->len = strlen(out->json);
    strcpy(out->txn, msg->txn);
    rc = 0;
done:
    json_decref(full);
    return rc;
}

void payload_message_free(payload_message *msg)
{
    if (msg == NULL)
        return;
    json_decref(msg->fields);
    msg->fields = NULL;
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
