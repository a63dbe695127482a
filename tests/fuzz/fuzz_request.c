/*
 * fuzz_request.c - libFuzzer target for the request plumbing of the API
 * (httpapi/request.c): bearer_token_find on an Authorization header, the
 * capped body buffer (request_body_append), request_json_object and
 * json_field_string on the parsed body, and refresh_token_well_formed
 * (httpapi/auth_tokens.c) on what a refresh or logout body carries.
 *
 * Input: byte 0 holds flags (bit 0: an empty body counts as {}; bits 1-6:
 * upload chunk size - 1; bit 7: keep re-sending the body until it passes
 * REQUEST_BODY_MAX); then the header value up to the first '\n'; the rest
 * is the body.
 *
 * Invariants:
 *   - bearer_token_find agrees with the rule in request.h (scheme
 *     "Bearer" in any case, one or more spaces, a non-empty b64token up to
 *     the end) and points into the header;
 *   - the body buffer holds exactly what was appended, NUL-terminated,
 *     until the cap; past it, body_too_large is set, nothing is kept and
 *     every further append fails;
 *   - request_json_object returns an object equal to what jansson parses
 *     (duplicates refused), {} for an empty body only when allowed, and
 *     otherwise a 400 with the error envelope and the right code;
 *   - json_field_string and refresh_token_well_formed agree with their
 *     documented rules.
 */
#include <strings.h>

#include "fuzz_common.h"
#include "httpapi/auth_tokens.h"
#include "httpapi/request.h"

static bool b64token_char(unsigned char c)
{
    return c != '\0' && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || strchr("-._~+/=", c));
}

static void check_bearer(const char *h)
{
    const char *tok = NULL;
    size_t len = 0, i = 6, start;
    bool expect = strlen(h) > 6 && strncasecmp(h, "bearer", 6) == 0 &&
                  h[6] == ' ';
    int rc = bearer_token_find(h, &tok, &len);

    if (expect) {
        while (h[i] == ' ')
            i++;
        start = i;
        while (b64token_char((unsigned char)h[i]))
            i++;
        expect = h[i] == '\0' && i > start;
    }
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc == 0) {
        FUZZ_CHECK(tok == h + start && len == i - start);
        FUZZ_CHECK(tok[len] == '\0' && tok[-1] == ' ');
    }
    FUZZ_CHECK(bearer_token_find(NULL, &tok, &len) == -1);
}

static bool ref_refresh_shape(const char *s, size_t len)
{
    return len == REFRESH_TOKEN_LEN && ref_all_in(s, len, "-_");
}

static void check_fields(const json_t *obj)
{
    static const char *const keys[] = {"refresh_token", "username", "password",
                                       "display_name",  "user",     "role",
                                       "kind",          "title"};

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *out = NULL;
        size_t len = 0;
        json_t *j = json_object_get(obj, keys[i]);
        int rc = json_field_string(obj, keys[i], &out, &len);

        if (j == NULL || json_is_null(j)) {
            FUZZ_CHECK(rc == 0);
        } else if (!json_is_string(j)) {
            FUZZ_CHECK(rc == -1);
        } else {
            FUZZ_CHECK(rc == 1 && out == json_string_value(j) &&
                       len == json_string_length(j));
            FUZZ_CHECK(json_field_string(obj, keys[i], &out, NULL) == 1);
            if (i == 0)
                FUZZ_CHECK(refresh_token_well_formed(out, len) ==
                           ref_refresh_shape(out, len));
        }
    }
}

static void check_json(api_request *r, bool empty_ok)
{
    json_t *ref = NULL, *obj, *err, *code;
    const char *want = NULL;

    if (r->body_len == 0) {
        if (!empty_ok)
            want = "invalid_json";
    } else {
        ref = json_loadb(r->body, r->body_len,
                         JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        if (ref == NULL)
            want = "invalid_json";
        else if (!json_is_object(ref))
            want = "bad_request";
    }
    obj = request_json_object(r, empty_ok);
    if (want == NULL) {
        FUZZ_CHECK(json_is_object(obj));
        FUZZ_CHECK(r->reply.status == 0);
        if (ref != NULL)
            FUZZ_CHECK(json_equal(obj, ref));
        else
            FUZZ_CHECK(json_object_size(obj) == 0);
        check_fields(obj);
    } else {
        FUZZ_CHECK(obj == NULL);
        FUZZ_CHECK(r->reply.status == 400);
        err = json_object_get(r->reply.body, "error");
        code = json_object_get(err, "code");
        FUZZ_CHECK(json_is_string(code) &&
                   strcmp(json_string_value(code), want) == 0);
        FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
    }
    json_decref(obj);
    json_decref(ref);
}

static void check_body(const char *body, size_t len, size_t chunk,
                       bool oversize, bool empty_ok)
{
    api_request *r = request_new(NULL, NULL, "POST");
    size_t total = 0, rounds = 0;

    FUZZ_CHECK(r != NULL && r->method == HTTP_POST);
    do {
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            int rc = request_body_append(r, body + off, n);
            if (total + n > REQUEST_BODY_MAX || r->body_too_large) {
                FUZZ_CHECK(rc == -1 && r->body_too_large);
                FUZZ_CHECK(r->body == NULL && r->body_len == 0);
                total = SIZE_MAX / 2;
                continue;
            }
            total += n;
            FUZZ_CHECK(rc == 0 && r->body_len == total);
            FUZZ_CHECK(r->body_cap > r->body_len);
            FUZZ_CHECK(r->body[total] == '\0');
            FUZZ_CHECK(memcmp(r->body + total - n, body + off, n) == 0);
        }
        rounds++;
    } while (oversize && len > 0 && !r->body_too_large &&
             rounds < REQUEST_BODY_MAX + 2);
    if (!r->body_too_large) {
        FUZZ_CHECK(r->body_len == len * rounds);
        check_json(r, empty_ok);
    }
    request_free(r);
    request_free(NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl;
    char *header;
    size_t hlen, chunk;

    if (size < 1)
        return 0;
    chunk = (size_t)((data[0] >> 1) & 0x3f) + 1;
    nl = memchr(data + 1, '\n', size - 1);
    hlen = nl != NULL ? (size_t)(nl - data - 1) : size - 1;
    header = fuzz_cstr(data + 1, hlen);
    check_bearer(header);
    FUZZ_CHECK(refresh_token_well_formed(header, strlen(header)) ==
               ref_refresh_shape(header, strlen(header)));
    free(header);

    if (nl != NULL) {
        size_t blen = size - (size_t)(nl + 1 - data), copies = 1;
        bool oversize = (data[0] & 0x80) != 0;
        char *body;

        /* Oversize mode sends the body repeated to at least 4 KiB, in big
         * chunks, so that reaching the cap stays fast. */
        if (oversize && blen > 0 && blen < 4096)
            copies = (4096 + blen - 1) / blen;
        body = malloc(blen * copies > 0 ? blen * copies : 1);
        FUZZ_CHECK(body != NULL);
        for (size_t i = 0; i < copies && blen > 0; i++)
            memcpy(body + i * blen, nl + 1, blen);
        check_body(body, blen * copies, oversize ? chunk * 1024 : chunk,
                   oversize, (data[0] & 1) != 0);
        free(body);
    }
    return 0;
}
