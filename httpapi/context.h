/*
 * context.h - the one context struct of the parley-api server: its
 * configuration, token keys, database pool and daemon.  Created in main(),
 * handed to every libmicrohttpd callback as its closure, read-only while the
 * server runs (the database pool's per-thread connections, each touched by
 * its own thread, and the login throttle, under its own mutex, are the only
 * state that changes).
 */
#ifndef PARLEY_API_CONTEXT_H
#define PARLEY_API_CONTEXT_H

#include <stddef.h>

#include "config.h"
#include "db.h"
#include "login_throttle.h"
#include "token.h"

struct MHD_Daemon;

typedef struct api_ctx {
    api_config cfg;
    token_verifier verifier;   /* checks incoming bearer tokens */
    unsigned char *jwt_secret; /* HS256 signing key (secret_free) */
    size_t jwt_secret_len;
    db_pool db;
    login_limits limits;     /* from cfg, set by server_start */
    throttle_table throttle; /* failed logins, registrations */
    struct MHD_Daemon *daemon;
} api_ctx;

#endif
