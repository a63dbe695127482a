/*
 * server.c - libmicrohttpd plumbing and request dispatch (see server.h).
 *
 * Life of a request: the first access-handler call allocates its
 * api_request (*req_cls) and routes it, and queues nothing (so keep-alive
 * survives requests with bodies), except a 413 when Content-Length alone
 * shows the body is too large (the connection is then closed rather than
 * read), or a 400 when the framing of the body is ambiguous (two
 * Content-Length headers, or one with Transfer-Encoding); upload calls
 * accumulate the body up to REQUEST_BODY_MAX and drop the rest, closing the
 * connection after REQUEST_DISCARD_MAX dropped bytes; the last call
 * authenticates, dispatches and queues the reply (413 if the body outgrew
 * the cap on the way); the completed callback logs and frees.
 *
 * Slow clients: an idle connection is closed after --connection-timeout
 * seconds, one client address holds at most --per-ip-connections at once
 * and all together at most --max-connections (see docs/SECURITY.md).
 */
#include "server.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "bearer.h"
#include "handlers_admin.h"
#include "handlers_auth.h"
#include "handlers_conversations.h"
#include "handlers_member_state.h"
#include "handlers_messages.h"
#include "handlers_reports.h"
#include "handlers_sync.h"
#include "handlers_users.h"
#include "log.h"
#include "request.h"

#define CONNECTION_MEMORY_LIMIT (64 * 1024)

typedef enum auth_mode {
    AUTH_NONE,
    AUTH_REQUIRED,
    AUTH_OPTIONAL, /* verified when present; the handler decides */
    /* AUTH_REQUIRED, but the handler checks the account in its own
     * statement (bearer.h): the dispatcher verifies the token only, and
     * answers 500 if the handler failed to settle the account. */
    AUTH_ACCOUNT_IN_HANDLER,
} auth_mode;

typedef void (*api_handler)(api_request *r, db_conn *db);

typedef struct route_handler {
    api_handler fn;
    auth_mode auth;
} route_handler;

static const route_handler handlers[ROUTE_COUNT] = {
    [ROUTE_HEALTHZ] = {handle_healthz, AUTH_NONE},
    [ROUTE_AUTH_REGISTER] = {handle_auth_register, AUTH_NONE},
    [ROUTE_AUTH_LOGIN] = {handle_auth_login, AUTH_NONE},
    [ROUTE_AUTH_REFRESH] = {handle_auth_refresh, AUTH_NONE},
    [ROUTE_AUTH_LOGOUT] = {handle_auth_logout, AUTH_OPTIONAL},
    [ROUTE_ME] = {handle_me, AUTH_REQUIRED},
    [ROUTE_USER_GET] = {handle_user_get, AUTH_REQUIRED},
    [ROUTE_CONV_CREATE] = {handle_conv_create, AUTH_REQUIRED},
    [ROUTE_CONV_LIST] = {handle_conv_list, AUTH_REQUIRED},
    [ROUTE_CONV_GET] = {handle_conv_get, AUTH_REQUIRED},
    [ROUTE_MEMBER_ADD] = {handle_member_add, AUTH_REQUIRED},
    [ROUTE_MEMBER_REMOVE] = {handle_member_remove, AUTH_REQUIRED},
    [ROUTE_MEMBER_UPDATE] = {handle_member_update, AUTH_REQUIRED},
    [ROUTE_MESSAGES_LIST] = {handle_messages_list, AUTH_ACCOUNT_IN_HANDLER},
    [ROUTE_ME_UPDATE] = {handle_me_update, AUTH_REQUIRED},
    [ROUTE_CONV_READ] = {handle_conv_read, AUTH_REQUIRED},
    [ROUTE_CONV_MUTE] = {handle_conv_mute, AUTH_REQUIRED},
    [ROUTE_CONV_UNMUTE] = {handle_conv_unmute, AUTH_REQUIRED},
    [ROUTE_MESSAGE_EDIT] = {handle_message_edit, AUTH_REQUIRED},
    [ROUTE_MESSAGE_DELETE] = {handle_message_delete, AUTH_REQUIRED},
    [ROUTE_SYNC] = {handle_sync, AUTH_REQUIRED},
    [ROUTE_REPORT_CREATE] = {handle_report_create, AUTH_REQUIRED},
    [ROUTE_ADMIN_REPORTS] = {handle_admin_reports, AUTH_REQUIRED},
    [ROUTE_ADMIN_REPORT_UPDATE] = {handle_admin_report_update, AUTH_REQUIRED},
    [ROUTE_ADMIN_BAN] = {handle_admin_ban, AUTH_REQUIRED},
    [ROUTE_ADMIN_UNBAN] = {handle_admin_unban, AUTH_REQUIRED},
    [ROUTE_ADMIN_HIDE] = {handle_admin_hide, AUTH_REQUIRED},
    [ROUTE_ADMIN_AUDIT] = {handle_admin_audit, AUTH_REQUIRED},
    [ROUTE_ADMIN_STATS] = {handle_admin_stats, AUTH_REQUIRED},
};

/* Decides r->reply for a request whose body (if any) is complete. */
static void dispatch(api_request *r)
{
    const route_handler *h;
    const char *why = NULL;
    bool token_ok = false;
    bearer_status st;
    db_conn *db;

    if (r->routed == ROUTE_NOT_FOUND) {
        reply_not_found(&r->reply);
        return;
    }
    if (r->routed == ROUTE_BAD_METHOD) {
        reply_error(&r->reply, MHD_HTTP_METHOD_NOT_ALLOWED,
                    "method_not_allowed", "method not allowed here");
        r->reply.allow = r->route.allowed;
        return;
    }
    h = &handlers[r->route.id];
    if (h->fn == NULL) {
        reply_not_found(&r->reply);
        return;
    }
    request_collect_params(r);
    if (r->params_bad) {
        reply_bad_request(&r->reply, "malformed query string");
        return;
    }
    if (h->auth != AUTH_NONE) {
        token_ok = bearer_verify(r, &why) == BEARER_OK;
        if (!token_ok && h->auth != AUTH_OPTIONAL) {
            bearer_refuse(r, BEARER_INVALID, why);
            return;
        }
    }
    db = db_pool_acquire(&r->ctx->db);
    if (db == NULL && r->route.id != ROUTE_HEALTHZ) {
        reply_unavailable(&r->reply);
        return;
    }
    if (h->auth == AUTH_ACCOUNT_IN_HANDLER) {
        h->fn(r, db);
        /* Nothing passes unless the handler decided on the account, and
         * only a refusal goes out for an account that does not stand. */
        if (!r->account_checked ||
            (!r->authenticated && r->reply.status < 400)) {
            api_log("route %d answered without its account check",
                    (int)r->route.id);
            reply_internal(&r->reply);
        }
        return;
    }
    if (token_ok) {
        st = bearer_check_account(r, db, &why);
        if (h->auth == AUTH_REQUIRED || st == BEARER_ERROR) {
            if (bearer_refuse(r, st, why))
                return;
        } else if (st == BEARER_BANNED) {
            r->authenticated = true; /* a banned user may still log out */
        }
    }
    h->fn(r, db);
}

/* True when the request announces a body larger than we accept. */
static bool declared_too_large(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n;

    if (cl == NULL)
        return false;
    n = strtoull(cl, &end, 10);
    return end != cl && n > REQUEST_BODY_MAX;
}

typedef struct framing_count {
    unsigned content_length;
    unsigned transfer_encoding;
} framing_count;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
    framing_count *n = cls;

    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        n->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        n->transfer_encoding++;
    return MHD_YES;
}

/* True when the headers leave the body's length open to two readings
 * (the ground of request smuggling behind a proxy). */
static bool framing_ambiguous(struct MHD_Connection *conn)
{
    framing_count n = {0, 0};

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &n);
    return n.content_length > 1 ||
           (n.content_length > 0 && n.transfer_encoding > 0);
}

/* Queues r's reply, once. */
static enum MHD_Result queue_reply(api_request *r)
{
    r->answered = true;
    r->status_sent =
        r->reply.status != 0 ? r->reply.status : MHD_HTTP_INTERNAL_SERVER_ERROR;
    return reply_queue(r->conn, &r->reply);
}

static enum MHD_Result answer_too_large(api_request *r)
{
    reply_error(&r->reply, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                "the body is larger than 64 KiB");
    return queue_reply(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    api_ctx *ctx = cls;
    api_request *r = *req_cls;

    (void)version;
    if (r == NULL) {
        r = request_new(ctx, conn, method);
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        snprintf(r->log_path, sizeof r->log_path, "%s", url);
        r->routed = router_match(r->method, url, &r->route);
        if (framing_ambiguous(conn)) {
            reply_bad_request(&r->reply, "ambiguous body length: give one "
                                         "Content-Length or chunked");
            return queue_reply(r);
        }
        if (declared_too_large(conn))
            return answer_too_large(r);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* Past the cap the rest is read and dropped, so that the client
         * sees its 413 (libmicrohttpd 0.9.75 refuses a response queued in
         * the middle of an upload), but only so much: a body that goes on
         * and on closes the connection. */
        if (r->answered || r->body_too_large) {
            r->discarded += n;
            return r->discarded > REQUEST_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (request_body_append(r, upload_data, n) != 0 && !r->body_too_large)
            return MHD_NO; /* out of memory */
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (r->body_too_large)
        return answer_too_large(r);
    dispatch(r);
    return queue_reply(r);
}

/* Replaces bytes that do not belong in a log line. */
static void sanitise(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_request *r = *req_cls;
    struct timespec now;
    long long tenths; /* of a millisecond */

    (void)cls;
    (void)conn;
    if (r == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tenths = ((long long)(now.tv_sec - r->started.tv_sec) * 1000000000LL +
              (now.tv_nsec - r->started.tv_nsec) + 50000) /
             100000;
    sanitise(r->log_path);
    /* Integers only: formatting a double cost more than the rest. */
    api_log("%s %s %u %lld.%lldms%s", r->method_name, r->log_path,
            r->status_sent, tenths / 10, tenths % 10,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    request_free(r);
    *req_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    api_log("libmicrohttpd: %s", msg);
}

/* Resolves the listen address into sa.  Returns 0, or -1 (logged). */
static int resolve_listen(const api_config *cfg, struct sockaddr_storage *sa)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", cfg->port);
    rc = getaddrinfo(cfg->listen_addr, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        api_log("cannot resolve listen address %s: %s", cfg->listen_addr,
                gai_strerror(rc));
        return -1;
    }
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

/* A budget of burst events, then per_hour an hour. */
static throttle_budget budget(long burst, long per_hour)
{
    throttle_budget b = {(unsigned)burst,
                         3600000 / (per_hour > 0 ? per_hour : 1)};
    if (b.period_ms < 1)
        b.period_ms = 1;
    return b;
}

/* Sets up ctx->limits and ctx->throttle from ctx->cfg.  Returns 0, or -1
 * (logged). */
static int throttle_start(api_ctx *ctx)
{
    const api_config *c = &ctx->cfg;
    uint64_t seed;

    ctx->limits.pair = budget(c->login_pair_burst, c->login_pair_per_hour);
    ctx->limits.address =
        budget(c->login_address_burst, c->login_address_per_hour);
    ctx->limits.username = budget(c->login_user_burst, c->login_user_per_hour);
    ctx->limits.registration = budget(c->register_burst, c->register_per_hour);
    if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1) {
        api_log("cannot draw a random seed for the login throttle");
        return -1;
    }
    if (throttle_init(&ctx->throttle, (size_t)c->throttle_entries, seed) != 0) {
        api_log("cannot allocate the login throttle (%ld entries)",
                c->throttle_entries);
        return -1;
    }
    return 0;
}

int server_start(api_ctx *ctx)
{
    struct sockaddr_storage sa;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    char host[INET6_ADDRSTRLEN] = "?";

    if (resolve_listen(&ctx->cfg, &sa) != 0 || throttle_start(ctx) != 0)
        return -1;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    ctx->daemon = MHD_start_daemon(
        flags, (uint16_t)ctx->cfg.port, NULL, NULL, on_request, ctx,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)ctx->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)ctx->cfg.connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ctx->cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)ctx->cfg.per_ip_connections, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, ctx, MHD_OPTION_UNESCAPE_CALLBACK, request_unescape_none,
        NULL, MHD_OPTION_END);
    if (ctx->daemon == NULL) {
        api_log("cannot listen on %s port %u", ctx->cfg.listen_addr,
                ctx->cfg.port);
        return -1;
    }
    info = MHD_get_daemon_info(ctx->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host,
                  sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host,
                  sizeof host);
    api_log("listening on %s port %u with %u threads", host,
            info != NULL ? (unsigned)info->port : ctx->cfg.port,
            ctx->cfg.threads);
    return 0;
}

void server_stop(api_ctx *ctx)
{
    if (ctx->daemon != NULL) {
        MHD_stop_daemon(ctx->daemon);
        ctx->daemon = NULL;
    }
    throttle_destroy(&ctx->throttle);
}
