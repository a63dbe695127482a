/*
 * main.c - parley-api's command line: `serve` (the default), `migrate` and
 * `adduser` (see config.h for the options).  serve loads the signing
 * secret, starts the server and waits for SIGINT or SIGTERM, then stops it
 * and releases everything.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adduser.h"
#include "config.h"
#include "context.h"
#include "log.h"
#include "migrate.h"
#include "secret.h"
#include "server.h"

/* Sets up ctx for serving.  Returns 0, or -1 (logged); ctx is then torn
 * down by serve_cleanup either way. */
static int serve_setup(api_ctx *ctx)
{
    char err[512];
    const char *why = NULL;

    if (secret_load_or_create(ctx->cfg.jwt_secret_file, &ctx->jwt_secret,
                              &ctx->jwt_secret_len, err, sizeof err) != 0) {
        api_log("%s", err);
        return -1;
    }
    if (token_verifier_init(&ctx->verifier, ctx->cfg.issuer, ctx->cfg.audience,
                            30) != 0) {
        api_log("issuer and audience must be 1 to %d characters",
                TOKEN_CLAIM_MAX);
        return -1;
    }
    if (token_verifier_add_key(&ctx->verifier, "", TOKEN_ALG_HS256,
                               ctx->jwt_secret, ctx->jwt_secret_len,
                               &why) != 0) {
        api_log("signing key refused: %s", why);
        return -1;
    }
    if (db_pool_init(&ctx->db, ctx->cfg.database_url) != 0) {
        api_log("cannot create the database pool");
        return -1;
    }
    return 0;
}

static void serve_cleanup(api_ctx *ctx)
{
    server_stop(ctx);
    db_pool_destroy(&ctx->db);
    token_verifier_clear(&ctx->verifier);
    secret_free(ctx->jwt_secret, ctx->jwt_secret_len);
    ctx->jwt_secret = NULL;
}

/* Runs the server until SIGINT or SIGTERM.  The signals are blocked before
 * the daemon starts, so every thread inherits the mask and only sigwait
 * here receives them. */
static int serve(api_ctx *ctx)
{
    sigset_t stop;
    int sig = 0, rc = 1;

    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) {
        api_log("cannot block signals");
        return 1;
    }
    if (serve_setup(ctx) == 0 && server_start(ctx) == 0) {
        if (sigwait(&stop, &sig) == 0)
            api_log("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        rc = 0;
    }
    serve_cleanup(ctx);
    if (rc == 0)
        api_log("stopped");
    return rc;
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    api_ctx ctx;
    char err[256];

    memset(&ctx, 0, sizeof ctx);
    if (config_parse(&ctx.cfg, argc, argv, env_lookup, err, sizeof err) != 0) {
        fprintf(stderr, "parley-api: %s\n%s", err, config_usage());
        return 2;
    }
    switch (ctx.cfg.command) {
    case CMD_HELP:
        fputs(config_usage(), stdout);
        return 0;
    case CMD_MIGRATE:
        return migrate_run(ctx.cfg.database_url, ctx.cfg.schema_dir) == 0 ? 0
                                                                          : 1;
    case CMD_ADDUSER:
        return adduser_run(&ctx.cfg) == 0 ? 0 : 1;
    case CMD_SERVE:
        break;
    }
    return serve(&ctx);
}
