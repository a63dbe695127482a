/*
 * server.h - the HTTP server of parley-api: libmicrohttpd with a thread
 * pool, bound to one address, and the routing of each request to its
 * handler.
 */
#ifndef PARLEY_API_SERVER_H
#define PARLEY_API_SERVER_H

#include "context.h"

/* Starts the daemon described by ctx->cfg, with ctx (which must stay valid
 * until server_stop) as every callback's closure; ctx->db must be
 * initialised.  Logs the address it listens on.  Returns 0, or -1 (logged). */
int server_start(api_ctx *ctx);

/* Stops the daemon: in-flight requests finish, worker threads exit and
 * close their database connections.  Accepts a context never started. */
void server_stop(api_ctx *ctx);

#endif
