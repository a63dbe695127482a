/*
 * respond.h - the reply a handler builds, and turning it into a
 * libmicrohttpd response: JSON bodies, the error envelope
 *     {"error":{"code":"...","message":"..."}}
 * and the few headers the API sets (Allow, WWW-Authenticate, Retry-After).
 */
#ifndef PARLEY_API_RESPOND_H
#define PARLEY_API_RESPOND_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

typedef struct api_reply {
    unsigned status; /* 0 until a handler sets it */
    json_t *body;    /* owned; NULL for no body */
    char *text;      /* owned; a body already in JSON text, sent as is */
    size_t text_len;
    unsigned allow; /* http_method bits for an Allow header, or 0 */
    bool www_authenticate;
    long retry_after; /* seconds for a Retry-After header, or 0 */
} api_reply;

/* Sets a JSON reply.  Takes ownership of body even on failure; a NULL body
 * (a failed allocation upstream) becomes a 500. */
void reply_json_new(api_reply *r, unsigned status, json_t *body);

/* Sets a reply whose body is JSON text made elsewhere (PostgreSQL builds
 * some answers whole): the len bytes of json are copied and sent without
 * being parsed.  The caller vouches that they are one valid JSON value.
 * Out of memory becomes a 500. */
void reply_json_text(api_reply *r, unsigned status, const char *json,
                     size_t len);

/* Sets an error reply with the standard envelope. */
void reply_error(api_reply *r, unsigned status, const char *code,
                 const char *message);

/* Sets a reply without a body (204). */
void reply_empty(api_reply *r, unsigned status);

/* Shorthands for the common errors. */
void reply_bad_request(api_reply *r, const char *message);
void reply_not_found(api_reply *r);
void reply_internal(api_reply *r);
void reply_unavailable(api_reply *r);

/* Drops whatever reply r holds. */
void reply_clear(api_reply *r);

/* Serialises r and queues it on conn; the body is released.  A reply never
 * set (status 0) is sent as 500.  Returns what MHD_queue_response returns. */
enum MHD_Result reply_queue(struct MHD_Connection *conn, api_reply *r);

#endif
