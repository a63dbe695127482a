/*
 * request.h - the per-request state of parley-api and the pure parsing of
 * what a request carries: its body (capped), its query parameters
 * (percent-decoded here, never by libmicrohttpd), its bearer token and its
 * JSON fields.
 *
 * An api_request is created on the first access-handler call, lives in
 * libmicrohttpd's *req_cls and is freed by the request-completed callback.
 */
#ifndef PARLEY_API_REQUEST_H
#define PARLEY_API_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "context.h"
#include "respond.h"
#include "router.h"
#include "token.h"

#define REQUEST_BODY_MAX (64 * 1024)
/* Bytes of an oversized body read and dropped (so that the client can read
 * its 413) before the connection is closed instead. */
#define REQUEST_DISCARD_MAX (1024 * 1024)
#define REQUEST_PARAMS_MAX 16

typedef struct query_param {
    char *key;   /* owned, decoded */
    char *value; /* owned, decoded; NULL when the key had no '=' */
} query_param;

typedef struct api_request {
    api_ctx *ctx; /* not owned */
    struct MHD_Connection *conn;
    http_method method;
    route_result routed;
    route_match route;
    char *body; /* owned; NUL-terminated; NULL until data arrives */
    size_t body_len, body_cap;
    bool body_too_large;
    size_t discarded; /* bytes dropped past REQUEST_BODY_MAX */
    query_param params[REQUEST_PARAMS_MAX];
    size_t n_params;
    bool params_bad; /* too many, or an undecodable escape */
    bool authenticated;
    /* the account behind the token was decided on (bearer.h), whatever
     * the verdict */
    bool account_checked;
    token_claims claims; /* valid when authenticated */
    struct timespec started;
    bool answered;        /* a reply was queued */
    unsigned status_sent; /* for the access log */
    char method_name[16]; /* for the access log */
    char log_path[128];   /* for the access log, truncated */
    api_reply reply;
} api_request;

/* Allocates the state of a new request (NULL on allocation failure). */
api_request *request_new(api_ctx *ctx, struct MHD_Connection *conn,
                         const char *method);

/* Frees r and everything it owns.  Accepts NULL. */
void request_free(api_request *r);

/* Appends upload data.  Returns 0, or -1 once the body would exceed
 * REQUEST_BODY_MAX (body_too_large is then set and nothing more is kept). */
int request_body_append(api_request *r, const char *data, size_t n);

/* Writes the text that names the client at sa for the login throttle
 * into out: the dotted IPv4 address (also for an IPv4-mapped IPv6 one), or
 * an IPv6 address's /64 prefix as "xxxx:...::/64", since one host may hold
 * a whole /64.  Returns 0, or -1 with out "unknown" for another family or
 * NULL. */
int client_address_text(const struct sockaddr *sa, char out[THROTTLE_ADDR_MAX]);

/* client_address_text of r's connection. */
void request_client_address(const api_request *r, char out[THROTTLE_ADDR_MAX]);

/* Milliseconds of the monotonic clock, for the login throttle. */
int64_t request_clock_ms(void);

/* Copies and decodes the query parameters of r's connection into r->params
 * (setting params_bad on trouble). */
void request_collect_params(api_request *r);

/* Decodes %HH escapes of in[0..len) into out (at least len + 1 bytes) and
 * NUL-terminates it.  Refuses a malformed escape and %00 (which would cut a
 * C string short).  Returns 0 with *out_len set, or -1. */
int percent_decode(const char *in, size_t len, char *out, size_t *out_len);

/* The libmicrohttpd unescape callback: leaves the URL exactly as received
 * (see router.h and percent_decode).  Returns strlen(s). */
size_t request_unescape_none(void *cls, struct MHD_Connection *c, char *s);

/* Looks key up among params.  Returns the value of its only occurrence
 * ("" when it had no '='), NULL when absent; sets *duplicate when the key
 * occurs more than once. */
const char *query_param_get(const query_param *params, size_t n,
                            const char *key, bool *duplicate);

/* Finds the token in an Authorization header value "Bearer <token>" (the
 * scheme case-insensitive, one or more spaces, no trailing space, token in
 * the RFC 6750 b64token alphabet).  Returns 0 with *tok and *len pointing
 * into header, or -1. */
int bearer_token_find(const char *header, const char **tok, size_t *len);

/* Parses r's body as a JSON object (duplicates refused).  An empty body is
 * {} when empty_ok.  On failure sets r->reply (400 invalid_json, or 400
 * bad_request for a non-object) and returns NULL.  Returns a new
 * reference. */
json_t *request_json_object(api_request *r, bool empty_ok);

/* Reads an optional string member.  Returns 1 with *out (and *len, which
 * may be NULL) set, 0 when absent or null, -1 when not a string. */
int json_field_string(const json_t *obj, const char *key, const char **out,
                      size_t *len);

#endif
