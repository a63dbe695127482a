/*
 * fuzz_config.c - libFuzzer target for config_parse (httpapi/config.c),
 * parley-api's command line and environment.
 *
 * Input: NUL-separated fields.  The first four are the values of
 * PARLEY_HTTP_ADDR, PARLEY_HTTP_PORT, PARLEY_DATABASE_URL and
 * PARLEY_JWT_SECRET_FILE (an empty field: unset); the rest are argv[1..].
 * Each field is its own exact-size allocation, as argv strings are.
 *
 * Invariants: on refusal, a non-empty reason that fits the (deliberately
 * small) error buffer, on one line unless it quotes an argument that holds
 * a newline itself; on success, a known command, every
 * number within its documented range, every required option present for
 * the command, and every string either a built-in default or pointing into
 * one of the argv or environment strings.
 */
#include "fuzz_common.h"
#include "httpapi/config.h"

#define MAX_FIELDS 24

static const char *const env_names[] = {
    "PARLEY_HTTP_ADDR",
    "PARLEY_HTTP_PORT",
    "PARLEY_DATABASE_URL",
    "PARLEY_JWT_SECRET_FILE",
};
static char *env_values[4];
static char *fields[MAX_FIELDS];
static size_t n_fields;

static const char *fake_env(const char *name)
{
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(name, env_names[i]) == 0)
            return env_values[i];
    }
    FUZZ_CHECK(!"config_parse asked for an unknown variable");
    return NULL;
}

/* NULL, or inside one of the input strings (or the given default). */
static bool from_input(const char *s, const char *dflt)
{
    if (s == NULL || (dflt != NULL && strcmp(s, dflt) == 0))
        return true;
    for (size_t i = 0; i < 4; i++) {
        if (env_values[i] != NULL && s >= env_values[i] &&
            s <= env_values[i] + strlen(env_values[i]))
            return s[0] != '\0';
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (s >= fields[i] && s <= fields[i] + strlen(fields[i]))
            return s[0] != '\0';
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[MAX_FIELDS + 2]; /* the program, the fields, NULL */
    char err[48];
    api_config cfg;
    size_t start = 0, k = 0;
    int argc, rc;

    n_fields = 0;
    memset(env_values, 0, sizeof env_values);
    argv[0] = "parley-api";
    argc = 1;
    while (start <= size && k < 4 + MAX_FIELDS) {
        const uint8_t *end = memchr(data + start, '\0', size - start);
        size_t len = end != NULL ? (size_t)(end - data) - start : size - start;
        char *field = fuzz_cstr(data + start, len);
        if (k < 4) {
            if (len > 0)
                env_values[k] = field;
            else
                free(field);
        } else {
            fields[n_fields++] = field;
            argv[argc++] = field;
        }
        k++;
        start += len + 1;
    }
    argv[argc] = NULL;

    memset(err, 'x', sizeof err);
    rc = config_parse(&cfg, argc, argv, fake_env, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        size_t n = strnlen(err, sizeof err);
        FUZZ_CHECK(n > 0 && n < sizeof err);
        /* One line, unless it quotes an argument that holds a newline. */
        FUZZ_CHECK(strchr(err, '\n') == NULL ||
                   memchr(data, '\n', size) != NULL);
    } else if (cfg.command != CMD_HELP) {
        FUZZ_CHECK(cfg.command == CMD_SERVE || cfg.command == CMD_MIGRATE ||
                   cfg.command == CMD_ADDUSER);
        FUZZ_CHECK(cfg.port <= 65535);
        FUZZ_CHECK(cfg.threads >= 1 && cfg.threads <= 256);
        FUZZ_CHECK(cfg.access_ttl >= 1 && cfg.access_ttl <= 7L * 24 * 3600);
        FUZZ_CHECK(cfg.refresh_ttl >= 1 &&
                   cfg.refresh_ttl <= 3650L * 24 * 3600);
        FUZZ_CHECK(cfg.edit_window >= 0 &&
                   cfg.edit_window <= MESSAGE_WINDOW_MAX);
        FUZZ_CHECK(cfg.delete_window >= 0 &&
                   cfg.delete_window <= MESSAGE_WINDOW_MAX);
        FUZZ_CHECK(cfg.database_url != NULL && cfg.database_url[0] != '\0');
        if (cfg.command == CMD_SERVE)
            FUZZ_CHECK(cfg.jwt_secret_file != NULL);
        if (cfg.command == CMD_MIGRATE)
            FUZZ_CHECK(cfg.schema_dir != NULL);
        if (cfg.command == CMD_ADDUSER)
            FUZZ_CHECK(cfg.username != NULL);
        FUZZ_CHECK(from_input(cfg.listen_addr, "127.0.0.1"));
        FUZZ_CHECK(from_input(cfg.issuer, "parley"));
        FUZZ_CHECK(from_input(cfg.audience, "parley"));
        FUZZ_CHECK(from_input(cfg.database_url, NULL));
        FUZZ_CHECK(from_input(cfg.jwt_secret_file, NULL));
        FUZZ_CHECK(from_input(cfg.schema_dir, NULL));
        FUZZ_CHECK(from_input(cfg.username, NULL));
        FUZZ_CHECK(from_input(cfg.role, NULL));
        FUZZ_CHECK(from_input(cfg.display_name, NULL));
    }
    FUZZ_CHECK(config_usage() != NULL);
    for (size_t i = 0; i < 4; i++)
        free(env_values[i]);
    for (size_t i = 0; i < n_fields; i++)
        free(fields[i]);
    return 0;
}
