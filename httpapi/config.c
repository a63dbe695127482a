/*
 * config.c - command-line and environment parsing for parley-api
 * (see config.h).  The options are a table of {flag, env var, commands,
 * parser, field}, in the manner of nginx's module directives.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define FOR_SERVE (1u << CMD_SERVE)
#define FOR_MIGRATE (1u << CMD_MIGRATE)
#define FOR_ADDUSER (1u << CMD_ADDUSER)
#define FOR_ALL (FOR_SERVE | FOR_MIGRATE | FOR_ADDUSER)

typedef int (*option_parser)(const char *value, void *field);

typedef struct option_def {
    const char *flag;
    const char *env; /* NULL when there is none */
    unsigned commands;
    option_parser parse;
    size_t offset;
    long min, max; /* for numbers */
} option_def;

static int parse_string(const char *value, void *field)
{
    if (value[0] == '\0')
        return -1;
    *(const char **)field = value;
    return 0;
}

/* Strict decimal: digits only, no sign, no leading zeros, no overflow. */
static int parse_decimal(const char *value, long max, long *out)
{
    long v = 0;

    if (value[0] == '\0' || (value[0] == '0' && value[1] != '\0'))
        return -1;
    for (const char *p = value; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (max - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static const option_def options[] = {
    {"--listen", "PARLEY_HTTP_ADDR", FOR_SERVE, parse_string,
     offsetof(api_config, listen_addr), 0, 0},
    {"--port", "PARLEY_HTTP_PORT", FOR_SERVE, NULL, offsetof(api_config, port),
     0, 65535},
    {"--database-url", "PARLEY_DATABASE_URL", FOR_ALL, parse_string,
     offsetof(api_config, database_url), 0, 0},
    {"--jwt-secret-file", "PARLEY_JWT_SECRET_FILE", FOR_SERVE, parse_string,
     offsetof(api_config, jwt_secret_file), 0, 0},
    {"--issuer", NULL, FOR_SERVE, parse_string, offsetof(api_config, issuer), 0,
     0},
    {"--audience", NULL, FOR_SERVE, parse_string,
     offsetof(api_config, audience), 0, 0},
    {"--access-ttl", NULL, FOR_SERVE, NULL, offsetof(api_config, access_ttl), 1,
     7L * 24 * 3600},
    {"--refresh-ttl", NULL, FOR_SERVE, NULL, offsetof(api_config, refresh_ttl),
     1, 3650L * 24 * 3600},
    {"--threads", NULL, FOR_SERVE, NULL, offsetof(api_config, threads), 1, 256},
    /* 0 turns authors' edits (deletes) off. */
    {"--edit-window", NULL, FOR_SERVE, NULL, offsetof(api_config, edit_window),
     0, MESSAGE_WINDOW_MAX},
    {"--delete-window", NULL, FOR_SERVE, NULL,
     offsetof(api_config, delete_window), 0, MESSAGE_WINDOW_MAX},
    /* Hostile clients.  A burst of 0 switches that budget off. */
    {"--connection-timeout", NULL, FOR_SERVE, NULL,
     offsetof(api_config, connection_timeout), 1, 3600},
    {"--max-connections", NULL, FOR_SERVE, NULL,
     offsetof(api_config, max_connections), 1, 100000},
    {"--per-ip-connections", NULL, FOR_SERVE, NULL,
     offsetof(api_config, per_ip_connections), 0, 100000},
    {"--login-pair-burst", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_pair_burst), 0, 1000000},
    {"--login-pair-per-hour", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_pair_per_hour), 1, 3600000},
    {"--login-address-burst", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_address_burst), 0, 1000000},
    {"--login-address-per-hour", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_address_per_hour), 1, 3600000},
    {"--login-user-burst", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_user_burst), 0, 1000000},
    {"--login-user-per-hour", NULL, FOR_SERVE, NULL,
     offsetof(api_config, login_user_per_hour), 1, 3600000},
    {"--register-burst", NULL, FOR_SERVE, NULL,
     offsetof(api_config, register_burst), 0, 1000000},
    {"--register-per-hour", NULL, FOR_SERVE, NULL,
     offsetof(api_config, register_per_hour), 1, 3600000},
    {"--throttle-entries", NULL, FOR_SERVE, NULL,
     offsetof(api_config, throttle_entries), 64, 16777216},
    {"--schema-dir", NULL, FOR_MIGRATE, parse_string,
     offsetof(api_config, schema_dir), 0, 0},
    {"--username", NULL, FOR_ADDUSER, parse_string,
     offsetof(api_config, username), 0, 0},
    {"--role", NULL, FOR_ADDUSER, parse_string, offsetof(api_config, role), 0,
     0},
    {"--display-name", NULL, FOR_ADDUSER, parse_string,
     offsetof(api_config, display_name), 0, 0},
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Stores value into the option's field.  Numbers go into unsigned or long
 * fields according to the option. */
static int apply(const option_def *o, api_config *cfg, const char *value)
{
    void *field = (char *)cfg + o->offset;
    long v;

    if (o->parse != NULL)
        return o->parse(value, field);
    if (parse_decimal(value, o->max, &v) != 0 || v < o->min)
        return -1;
    if (o->offset == offsetof(api_config, port) ||
        o->offset == offsetof(api_config, threads))
        *(unsigned *)field = (unsigned)v;
    else
        *(long *)field = v;
    return 0;
}

static const option_def *find_option(const char *flag, size_t len)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (strlen(options[i].flag) == len &&
            strncmp(options[i].flag, flag, len) == 0)
            return &options[i];
    }
    return NULL;
}

static const char *command_name(api_command c)
{
    switch (c) {
    case CMD_SERVE:
        return "serve";
    case CMD_MIGRATE:
        return "migrate";
    case CMD_ADDUSER:
        return "adduser";
    case CMD_HELP:
        break;
    }
    return "help";
}

int config_parse(api_config *cfg, int argc, char *const argv[],
                 config_env_fn env, char *err, size_t errlen)
{
    int i = 1;

    memset(cfg, 0, sizeof *cfg);
    cfg->command = CMD_SERVE;
    cfg->listen_addr = "127.0.0.1";
    cfg->port = 18832;
    cfg->issuer = "parley";
    cfg->audience = "parley";
    cfg->access_ttl = 900;
    cfg->refresh_ttl = 30L * 24 * 3600;
    cfg->threads = 4;
    cfg->edit_window = EDIT_WINDOW_DEFAULT;
    cfg->delete_window = DELETE_WINDOW_DEFAULT;
    cfg->connection_timeout = CONNECTION_TIMEOUT_DEFAULT;
    cfg->max_connections = MAX_CONNECTIONS_DEFAULT;
    cfg->per_ip_connections = PER_IP_CONNECTIONS_DEFAULT;
    cfg->login_pair_burst = LOGIN_PAIR_BURST_DEFAULT;
    cfg->login_pair_per_hour = LOGIN_PAIR_PER_HOUR_DEFAULT;
    cfg->login_address_burst = LOGIN_ADDRESS_BURST_DEFAULT;
    cfg->login_address_per_hour = LOGIN_ADDRESS_PER_HOUR_DEFAULT;
    cfg->login_user_burst = LOGIN_USER_BURST_DEFAULT;
    cfg->login_user_per_hour = LOGIN_USER_PER_HOUR_DEFAULT;
    cfg->register_burst = REGISTER_BURST_DEFAULT;
    cfg->register_per_hour = REGISTER_PER_HOUR_DEFAULT;
    cfg->throttle_entries = THROTTLE_ENTRIES_DEFAULT;

    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "serve") == 0)
            cfg->command = CMD_SERVE;
        else if (strcmp(argv[1], "migrate") == 0)
            cfg->command = CMD_MIGRATE;
        else if (strcmp(argv[1], "adduser") == 0)
            cfg->command = CMD_ADDUSER;
        else if (strcmp(argv[1], "help") == 0)
            cfg->command = CMD_HELP;
        else {
            set_err(err, errlen, "unknown command '%s'", argv[1]);
            return -1;
        }
        i = 2;
    }
    if (cfg->command == CMD_HELP)
        return 0;

    /* Environment first, so flags override it. */
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
        const option_def *o = &options[k];
        const char *value;
        if (o->env == NULL || !(o->commands & (1u << cfg->command)))
            continue;
        value = env != NULL ? env(o->env) : NULL;
        if (value != NULL && value[0] != '\0' && apply(o, cfg, value) != 0) {
            set_err(err, errlen, "invalid value in %s", o->env);
            return -1;
        }
    }

    for (; i < argc; i++) {
        const char *arg = argv[i], *eq, *value;
        const option_def *o;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->command = CMD_HELP;
            return 0;
        }
        eq = strchr(arg, '=');
        o = find_option(arg, eq != NULL ? (size_t)(eq - arg) : strlen(arg));
        if (o == NULL || !(o->commands & (1u << cfg->command))) {
            set_err(err, errlen, "unknown option '%.*s' for %s",
                    (int)(eq != NULL ? (size_t)(eq - arg) : strlen(arg)), arg,
                    command_name(cfg->command));
            return -1;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            set_err(err, errlen, "option %s needs a value", o->flag);
            return -1;
        }
        if (apply(o, cfg, value) != 0) {
            set_err(err, errlen, "invalid value for %s", o->flag);
            return -1;
        }
    }

    if (cfg->database_url == NULL) {
        set_err(err, errlen,
                "--database-url (or PARLEY_DATABASE_URL) is required");
        return -1;
    }
    if (cfg->command == CMD_SERVE && cfg->jwt_secret_file == NULL) {
        set_err(err, errlen,
                "--jwt-secret-file (or PARLEY_JWT_SECRET_FILE) is required");
        return -1;
    }
    if (cfg->command == CMD_MIGRATE && cfg->schema_dir == NULL) {
        set_err(err, errlen, "--schema-dir is required");
        return -1;
    }
    if (cfg->command == CMD_ADDUSER && cfg->username == NULL) {
        set_err(err, errlen, "--username is required");
        return -1;
    }
    return 0;
}

const char *config_usage(void)
{
    return "usage:\n"
           "  parley-api [serve] [--listen ADDR] [--port N]\n"
           "             --database-url URL --jwt-secret-file PATH\n"
           "             [--issuer S] [--audience S]\n"
           "             [--access-ttl SECONDS] [--refresh-ttl SECONDS]\n"
           "             [--threads N] [--edit-window SECONDS]\n"
           "             [--delete-window SECONDS]\n"
           "    slow and hostile clients (defaults in brackets):\n"
           "             [--connection-timeout SECONDS]  idle connections "
           "closed [30]\n"
           "             [--max-connections N]  open connections in all "
           "[1000]\n"
           "             [--per-ip-connections N]  per client address, 0 "
           "for any [64]\n"
           "    failed logins: BURST at once, then PER_HOUR an hour "
           "(429 beyond;\n"
           "    a burst of 0 turns that budget off):\n"
           "             [--login-pair-burst N] [--login-pair-per-hour N]"
           "  per username\n"
           "               and client address [5, 60]\n"
           "             [--login-address-burst N] "
           "[--login-address-per-hour N]\n"
           "               per client address [30, 180]\n"
           "             [--login-user-burst N] [--login-user-per-hour N]"
           "  per username\n"
           "               [50, 120]\n"
           "             [--register-burst N] [--register-per-hour N]"
           "  registrations\n"
           "               per client address [300, 7200]\n"
           "             [--throttle-entries N]  keys remembered, least "
           "useful evicted\n"
           "               first [32768]\n"
           "  parley-api migrate --database-url URL --schema-dir DIR\n"
           "  parley-api adduser --database-url URL --username NAME\n"
           "             [--role user|admin|device] [--display-name NAME]\n"
           "             (password from PARLEY_NEW_PASSWORD or one line of "
           "stdin)\n"
           "environment: PARLEY_HTTP_ADDR, PARLEY_HTTP_PORT, "
           "PARLEY_DATABASE_URL,\n"
           "             PARLEY_JWT_SECRET_FILE (flags override them)\n";
}
