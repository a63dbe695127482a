/*
 * respond.c - JSON and error responses (see respond.h).
 */
#include "respond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

void reply_clear(api_reply *r)
{
    json_decref(r->body);
    r->body = NULL;
    free(r->text);
    r->text = NULL;
    r->text_len = 0;
    r->status = 0;
    r->allow = 0;
    r->www_authenticate = false;
    r->retry_after = 0;
}

void reply_json_new(api_reply *r, unsigned status, json_t *body)
{
    reply_clear(r);
    if (body == NULL) {
        reply_internal(r);
        return;
    }
    r->status = status;
    r->body = body;
}

void reply_json_text(api_reply *r, unsigned status, const char *json,
                     size_t len)
{
    reply_clear(r);
    r->text = malloc(len > 0 ? len : 1);
    if (r->text == NULL) {
        reply_internal(r);
        return;
    }
    memcpy(r->text, json, len);
    r->text_len = len;
    r->status = status;
}

/* Returns a new error envelope object, or NULL. */
static json_t *error_body_new(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                     message);
}

void reply_error(api_reply *r, unsigned status, const char *code,
                 const char *message)
{
    reply_clear(r);
    r->status = status;
    r->body = error_body_new(code, message);
}

void reply_empty(api_reply *r, unsigned status)
{
    reply_clear(r);
    r->status = status;
}

void reply_bad_request(api_reply *r, const char *message)
{
    reply_error(r, MHD_HTTP_BAD_REQUEST, "bad_request", message);
}

void reply_not_found(api_reply *r)
{
    reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "not found");
}

void reply_internal(api_reply *r)
{
    reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                "internal error");
}

void reply_unavailable(api_reply *r)
{
    reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                "database unavailable");
}

enum MHD_Result reply_queue(struct MHD_Connection *conn, api_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = NULL;
    size_t len = 0;

    if (r->status == 0)
        reply_internal(r);
    if (r->text != NULL) {
        text = r->text; /* handed over to the response below */
        len = r->text_len;
        r->text = NULL;
    } else if (r->body != NULL) {
        text = json_dumps(r->body, JSON_COMPACT);
        if (text == NULL) {
            reply_internal(r);
            text = json_dumps(r->body, JSON_COMPACT);
        }
        len = text != NULL ? strlen(text) : 0;
    }
    if (text != NULL)
        resp =
            MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(text);
        reply_clear(r);
        return MHD_NO;
    }
    if (text != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow != 0) {
        char allow[64];
        MHD_add_response_header(
            resp, MHD_HTTP_HEADER_ALLOW,
            router_allow_header(r->allow, allow, sizeof allow));
    }
    if (r->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer");
    if (r->retry_after > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%ld", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    reply_clear(r);
    return ret;
}
