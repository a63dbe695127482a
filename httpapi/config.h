/*
 * config.h - parley-api's command line: subcommand and options, where a
 * flag overrides its environment variable, which overrides the default.
 *
 * Pure: the environment is read through a caller-supplied lookup function
 * so tests can give their own.  Strings in the result point into argv or
 * into the environment; nothing is allocated.
 */
#ifndef PARLEY_API_CONFIG_H
#define PARLEY_API_CONFIG_H

#include <stddef.h>

typedef enum api_command {
    CMD_SERVE,
    CMD_MIGRATE,
    CMD_ADDUSER,
    CMD_HELP,
} api_command;

typedef struct api_config {
    api_command command;
    /* serve */
    const char *listen_addr;
    unsigned port;
    const char *jwt_secret_file;
    const char *issuer;
    const char *audience;
    long access_ttl;  /* seconds */
    long refresh_ttl; /* seconds */
    unsigned threads;
    long edit_window;   /* seconds an author may edit a message */
    long delete_window; /* seconds an author may delete a message */
    /* hostile clients (see docs/SECURITY.md, "HTTP clients") */
    long connection_timeout;  /* seconds a connection may stay idle */
    long max_connections;     /* open connections in all */
    long per_ip_connections;  /* open connections per client address; 0: any */
    long login_pair_burst;    /* failed logins per (username, address) ... */
    long login_pair_per_hour; /* ... then this many an hour */
    long login_address_burst; /* failed logins per address */
    long login_address_per_hour;
    long login_user_burst; /* failed logins per username */
    long login_user_per_hour;
    long register_burst; /* registrations per address */
    long register_per_hour;
    long throttle_entries; /* keys the login throttle remembers */
    /* every command */
    const char *database_url;
    /* migrate */
    const char *schema_dir;
    /* adduser */
    const char *username;
    const char *role;
    const char *display_name;
} api_config;

#define EDIT_WINDOW_DEFAULT 900
#define DELETE_WINDOW_DEFAULT 3600
#define MESSAGE_WINDOW_MAX (3650L * 24 * 3600) /* ten years */
/* Sized so that the test suite and the benchmarks (wrk with 8 connections,
 * about 500 registrations in a few minutes from 127.0.0.1) stay within them;
 * see docs/SECURITY.md for tighter production values. */
#define CONNECTION_TIMEOUT_DEFAULT 30
#define MAX_CONNECTIONS_DEFAULT 1000
#define PER_IP_CONNECTIONS_DEFAULT 64
#define LOGIN_PAIR_BURST_DEFAULT 5
#define LOGIN_PAIR_PER_HOUR_DEFAULT 60
#define LOGIN_ADDRESS_BURST_DEFAULT 30
#define LOGIN_ADDRESS_PER_HOUR_DEFAULT 180
#define LOGIN_USER_BURST_DEFAULT 50
#define LOGIN_USER_PER_HOUR_DEFAULT 120
#define REGISTER_BURST_DEFAULT 300
#define REGISTER_PER_HOUR_DEFAULT 7200
#define THROTTLE_ENTRIES_DEFAULT 32768

typedef const char *(*config_env_fn)(const char *name);

/* Fills cfg from argv (argv[0] is the program) and env.  The subcommand is
 * argv[1] when it does not start with '-'; "serve" is the default.  Returns
 * 0, or -1 with a one-line reason in err. */
int config_parse(api_config *cfg, int argc, char *const argv[],
                 config_env_fn env, char *err, size_t errlen);

/* The usage text printed by --help and after a command-line error. */
const char *config_usage(void);

#endif
