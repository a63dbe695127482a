/*
 * db_connect.c - how the plugin's threads connect to PostgreSQL: the
 * configured URL with bounded connect time and TCP keepalives, so that a
 * database that vanishes is noticed instead of waited on forever.
 */
#include <libpq-fe.h>

#include "plugin_ctx.h"

void parley_db_init(void)
{
    char *err = NULL;
    PQconninfoOption *opts;

    /* libpq binds its message catalogue (bindtextdomain, under glibc's
     * global gettext write lock) the first time it translates a message.
     * Done here, once, on the main thread before the plugin's threads
     * start, the threads only ever read the catalogue.  Parsing an invalid
     * string makes libpq translate its error message; nothing touches the
     * network. */
    opts = PQconninfoParse("=", &err);
    PQconninfoFree(opts);
    PQfreemem(err);
}

PGconn *parley_db_connect(const char *url)
{
    /* Later entries win: the operator's URL may override these. */
    static const char *const keys[] = {
        "connect_timeout", "keepalives",       "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "application_name", "dbname",          NULL,
    };
    const char *values[] = {
        "10", "1", "10", "5", "3", "30000", "parley-broker", url, NULL,
    };

    return PQconnectdbParams(keys, values, 1);
}
