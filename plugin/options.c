/*
 * options.c - the plugin's plugin_opt_* settings: a table of names, parsers
 * and field offsets, defaults first, every value checked.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"

typedef enum opt_type { OPT_STRING, OPT_LONG } opt_type;

static const struct option_spec {
    const char *name; /* without the plugin_opt_ prefix */
    opt_type type;
    size_t offset;
    long min, max; /* OPT_LONG bounds */
    bool required;
} option_specs[] = {
    {"database_url", OPT_STRING, offsetof(parley_options, database_url), 0, 0, true},
    {"jwt_secret_file", OPT_STRING, offsetof(parley_options, jwt_secret_file), 0, 0, false},
    {"jwt_keys", OPT_STRING, offsetof(parley_options, jwt_keys), 0, 0, false},
    {"jwt_issuer", OPT_STRING, offsetof(parley_options, jwt_issuer), 0, 0, false},
    {"jwt_audience", OPT_STRING, offsetof(parley_options, jwt_audience), 0, 0, false},
    {"jwt_leeway", OPT_LONG, offsetof(parley_options, jwt_leeway), 0, 300, false},
    {"node_id", OPT_LONG, offsetof(parley_options, node_id), 0, PARLEY_ID_NODE_MAX, false},
    {"spool_dir", OPT_STRING, offsetof(parley_options, spool_dir), 0, 0, true},
    {"spool_sync_ms", OPT_LONG, offsetof(parley_options, spool_sync_ms), 0, 60000, false},
    {"queue_max", OPT_LONG, offsetof(parley_options, queue_max), 1, 10000000, false},
    {"batch_max", OPT_LONG, offsetof(parley_options, batch_max), 1, 100000, false},
    {"writer_linger_ms", OPT_LONG, offsetof(parley_options, writer_linger_ms), 0, 1000, false},
    {"writer_nice", OPT_LONG, offsetof(parley_options, writer_nice), 0, 19, false},
    {"max_body_chars", OPT_LONG, offsetof(parley_options, max_body_chars), 1, 1000000, false},
    {"max_payload", OPT_LONG, offsetof(parley_options, max_payload), 64, 16 * 1024 * 1024, false},
    {"rate_per_s", OPT_LONG, offsetof(parley_options, rate_per_s), 1, 1000000, false},
    {"rate_burst", OPT_LONG, offsetof(parley_options, rate_burst), 1, 10000000, false},
    {"resubscribe_per_min", OPT_LONG, offsetof(parley_options, resubscribe_per_min), 1, 1000000, false},
    {"resubscribe_burst", OPT_LONG, offsetof(parley_options, resubscribe_burst), 1, 10000000, false},
    {"presence_grace_ms", OPT_LONG, offsetof(parley_options, presence_grace_ms), 0, 600000, false},
};

#define N_SPECS (sizeof option_specs / sizeof option_specs[0])

static int set_string(char **field, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_defaults(parley_options *o)
{
    memset(o, 0, sizeof *o);
    o->jwt_leeway = 30;
    o->node_id = 0;
    o->queue_max = 20000;
    o->batch_max = 1000;
    o->writer_linger_ms = 5;
    o->writer_nice = 0;
    o->spool_sync_ms = 0;
    o->max_body_chars = 4000;
    o->max_payload = 16 * 1024;
    o->rate_per_s = 20;
    o->rate_burst = 500;
    o->resubscribe_per_min = 60;
    o->resubscribe_burst = 1000;
    o->presence_grace_ms = 5000;
    if (set_string(&o->jwt_issuer, "parley") != 0 ||
        set_string(&o->jwt_audience, "parley") != 0)
        return -1;
    return 0;
}

int options_parse(parley_options *o, struct mosquitto_opt *opts, int count)
{
    bool seen[N_SPECS] = {false};

    if (set_defaults(o) != 0)
        return -1;
    for (int i = 0; i < count; i++) {
        size_t k;
        for (k = 0; k < N_SPECS; k++) {
            if (strcmp(opts[i].key, option_specs[k].name) == 0)
                break;
        }
        if (k == N_SPECS) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: unknown option plugin_opt_%s",
                                 opts[i].key);
            return -1;
        }
        const struct option_spec *spec = &option_specs[k];
        void *field = (char *)o + spec->offset;
        if (opts[i].value == NULL || opts[i].value[0] == '\0') {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: plugin_opt_%s needs a value",
                                 spec->name);
            return -1;
        }
        if (spec->type == OPT_STRING) {
            if (set_string(field, opts[i].value) != 0)
                return -1;
        } else if (parse_long(opts[i].value, spec->min, spec->max, field) !=
                   0) {
            mosquitto_log_printf(
                MOSQ_LOG_ERR,
                "parley: plugin_opt_%s must be a whole number from %ld to %ld",
                spec->name, spec->min, spec->max);
            return -1;
        }
        seen[k] = true;
    }
    for (size_t k = 0; k < N_SPECS; k++) {
        if (option_specs[k].required && !seen[k]) {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "parley: plugin_opt_%s is required",
                                 option_specs[k].name);
            return -1;
        }
    }
    if (o->jwt_secret_file == NULL && o->jwt_keys == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: set plugin_opt_jwt_secret_file or "
                             "plugin_opt_jwt_keys");
        return -1;
    }
    return 0;
}

void options_free(parley_options *o)
{
    for (size_t k = 0; k < N_SPECS; k++) {
        if (option_specs[k].type == OPT_STRING) {
            char **field = (char **)((char *)o + option_specs[k].offset);
            free(*field);
            *field = NULL;
        }
    }
}
