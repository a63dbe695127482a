/*
 * request.c - per-request state and request parsing (see request.h).
 */
#include "request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

api_request *request_new(api_ctx *ctx, struct MHD_Connection *conn,
                         const char *method)
{
    api_request *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->ctx = ctx;
    r->conn = conn;
    r->method = http_method_parse(method);
    snprintf(r->method_name, sizeof r->method_name, "%s", method);
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    return r;
}

void request_free(api_request *r)
{
    if (r == NULL)
        return;
    free(r->body);
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].key);
        free(r->params[i].value);
    }
    reply_clear(&r->reply);
    explicit_bzero(&r->claims, sizeof r->claims);
    free(r);
}

int request_body_append(api_request *r, const char *data, size_t n)
{
    if (r->body_too_large)
        return -1;
    if (n > REQUEST_BODY_MAX - r->body_len) {
        r->body_too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return -1;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap == 0 ? 1024 : r->body_cap;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (grown == NULL)
            return -1;
        r->body = grown;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

int client_address_text(const struct sockaddr *sa, char out[THROTTLE_ADDR_MAX])
{
    char text[INET6_ADDRSTRLEN];

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, out, THROTTLE_ADDR_MAX) != NULL)
            return 0;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            if (inet_ntop(AF_INET, &a.s6_addr[12], out, THROTTLE_ADDR_MAX) !=
                NULL)
                return 0;
        } else {
            memset(&a.s6_addr[8], 0, 8);
            if (inet_ntop(AF_INET6, &a, text, sizeof text) != NULL) {
                snprintf(out, THROTTLE_ADDR_MAX, "%s/64", text);
                return 0;
            }
        }
    }
    snprintf(out, THROTTLE_ADDR_MAX, "unknown");
    return -1;
}

void request_client_address(const api_request *r, char out[THROTTLE_ADDR_MAX])
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    client_address_text(info != NULL ? info->client_addr : NULL, out);
}

int64_t request_clock_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int percent_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\0')
            return -1;
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        if (len - i < 3)
            return -1;
        int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

size_t request_unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* Returns a decoded copy of s[0..len), or NULL. */
static char *decoded_copy(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n;

    if (out != NULL && percent_decode(s, len, out, &n) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static enum MHD_Result collect_one(void *cls, enum MHD_ValueKind kind,
                                   const char *key, size_t key_len,
                                   const char *value, size_t value_len)
{
    api_request *r = cls;
    query_param *p;

    (void)kind;
    if (r->n_params == REQUEST_PARAMS_MAX) {
        r->params_bad = true;
        return MHD_NO;
    }
    p = &r->params[r->n_params];
    p->key = decoded_copy(key, key_len);
    p->value = value != NULL ? decoded_copy(value, value_len) : NULL;
    if (p->key == NULL || (value != NULL && p->value == NULL)) {
        free(p->key);
        free(p->value);
        p->key = p->value = NULL;
        r->params_bad = true;
        return MHD_NO;
    }
    r->n_params++;
    return MHD_YES;
}

void request_collect_params(api_request *r)
{
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, collect_one, r);
}

const char *query_param_get(const query_param *params, size_t n,
                            const char *key, bool *duplicate)
{
    const char *found = NULL;

    *duplicate = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].key, key) != 0)
            continue;
        if (found != NULL)
            *duplicate = true;
        found = params[i].value != NULL ? params[i].value : "";
    }
    return found;
}

static bool is_b64token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~' || c == '+' || c == '/' || c == '=';
}

int bearer_token_find(const char *header, const char **tok, size_t *len)
{
    size_t i = 6, start;

    if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 ||
        header[6] != ' ')
        return -1;
    while (header[i] == ' ')
        i++;
    start = i;
    while (header[i] != '\0' && is_b64token_char((unsigned char)header[i]))
        i++;
    if (header[i] != '\0' || i == start)
        return -1;
    *tok = header + start;
    *len = i - start;
    return 0;
}

json_t *request_json_object(api_request *r, bool empty_ok)
{
    json_error_t err;
    json_t *obj;

    if (r->body_len == 0) {
        if (empty_ok)
            return json_object();
        reply_error(&r->reply, MHD_HTTP_BAD_REQUEST, "invalid_json",
                    "a JSON object body is required");
        return NULL;
    }
    obj = json_loadb(r->body, r->body_len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (obj == NULL) {
        reply_error(&r->reply, MHD_HTTP_BAD_REQUEST, "invalid_json",
                    "the body is not valid JSON");
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        reply_bad_request(&r->reply, "the body must be a JSON object");
        return NULL;
    }
    return obj;
}

int json_field_string(const json_t *obj, const char *key, const char **out,
                      size_t *len)
{
    json_t *j = json_object_get(obj, key);

    if (j == NULL || json_is_null(j))
        return 0;
    if (!json_is_string(j))
        return -1;
    *out = json_string_value(j);
    if (len != NULL)
        *len = json_string_length(j);
    return 1;
}
