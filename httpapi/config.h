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

typedef const char *(*config_env_fn)(const char *name);

/* Fills cfg from argv (argv[0] is the program) and env.  The subcommand is
 * argv[1] when it does not start with '-'; "serve" is the default.  Returns
 * 0, or -1 with a one-line reason in err. */
int config_parse(api_config *cfg, int argc, char *const argv[],
                 config_env_fn env, char *err, size_t errlen);

/* The usage text printed by --help and after a command-line error. */
const char *config_usage(void);

#endif
