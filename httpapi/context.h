/*
 * context.h - the one context struct of the parley-api server: its
 * configuration, token keys, database pool and daemon.  Created in main(),
 * handed to every libmicrohttpd callback as its closure, read-only while the
 * server runs (the database pool's per-thread connections are the only
 * state that changes, each touched by its own thread).
 */
#ifndef PARLEY_API_CONTEXT_H
#define PARLEY_API_CONTEXT_H

#include <stddef.h>

#include "config.h"
#include "db.h"
#include "token.h"

struct MHD_Daemon;

typedef struct api_ctx {
    api_config cfg;
    token_verifier verifier;   /* checks incoming bearer tokens */
    unsigned char *jwt_secret; /* HS256 signing key (secret_free) */
    size_t jwt_secret_len;
    db_pool db;
    struct MHD_Daemon *daemon;
} api_ctx;

#endif
