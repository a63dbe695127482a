/*
 * migrate.c - schema migrations (see migrate.h).
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define MIGRATION_FILE_MAX (16 * 1024 * 1024)
/* The advisory lock key: "parley" in ASCII (0x7061726c6579). */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_lock(123563833845113)"
#define MIGRATE_UNLOCK_SQL "SELECT pg_advisory_unlock(123563833845113)"

typedef struct migration {
    unsigned version;
    char *name; /* owned */
} migration;

int migration_parse_name(const char *name, unsigned *version)
{
    size_t len, digits = 0;
    unsigned v = 0;

    if (name == NULL || strchr(name, '/') != NULL)
        return -1;
    len = strlen(name);
    while (name[digits] >= '0' && name[digits] <= '9') {
        if (digits == 9)
            return -1;
        v = v * 10 + (unsigned)(name[digits] - '0');
        digits++;
    }
    if (digits == 0 || v == 0 || name[digits] != '_')
        return -1;
    /* at least one character between '_' and ".sql" */
    if (len < digits + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0)
        return -1;
    *version = v;
    return 0;
}

static int compare_migrations(const void *a, const void *b)
{
    const migration *x = a, *y = b;

    return x->version < y->version ? -1 : x->version > y->version;
}

static void free_migrations(migration *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}

/* Lists dir's migrations sorted by version.  Returns 0, or -1 (printed)
 * if the directory cannot be read or two files share a version. */
static int list_migrations(const char *dir, migration **out, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    migration *list = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *n_out = 0;
    if (d == NULL) {
        fprintf(stderr, "parley-api: cannot open %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        unsigned version;
        if (migration_parse_name(e->d_name, &version) != 0)
            continue;
        if (n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            migration *grown = realloc(list, cap * sizeof *list);
            if (grown == NULL)
                goto fail;
            list = grown;
        }
        list[n].version = version;
        list[n].name = strdup(e->d_name);
        if (list[n].name == NULL)
            goto fail;
        n++;
    }
    closedir(d);
    d = NULL;
    if (n > 1)
        qsort(list, n, sizeof *list, compare_migrations);
    for (size_t i = 1; i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            fprintf(stderr, "parley-api: %s and %s have the same version\n",
                    list[i - 1].name, list[i].name);
            free_migrations(list, n);
            return -1;
        }
    }
    *out = list;
    *n_out = n;
    return 0;
fail:
    fprintf(stderr, "parley-api: out of memory listing %s\n", dir);
    if (d != NULL)
        closedir(d);
    free_migrations(list, n);
    return -1;
}

/* Reads a whole file into a new NUL-terminated buffer, or returns NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (cap - n < 4096) {
            cap = cap == 0 ? 65536 : cap * 2;
            char *grown =
                cap <= MIGRATION_FILE_MAX ? realloc(buf, cap + 1) : NULL;
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool command_ok(PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(pg, sql);
    bool ok = PQresultStatus(res) == want;

    if (!ok)
        fprintf(stderr, "parley-api: %s: %s", sql, PQerrorMessage(pg));
    PQclear(res);
    return ok;
}

/* True if version is recorded in schema_version; -1 on error. */
static int is_applied(PGconn *pg, unsigned version)
{
    char v[16];
    const char *params[1] = {v};
    PGresult *res;
    int rc;

    snprintf(v, sizeof v, "%u", version);
    res = PQexecParams(pg, "SELECT 1 FROM schema_version WHERE version = $1", 1,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "parley-api: reading schema_version: %s",
                PQerrorMessage(pg));
        rc = -1;
    } else {
        rc = PQntuples(res) > 0;
    }
    PQclear(res);
    return rc;
}

/* Applies one file in its own transaction.  Returns 0, or -1 (printed). */
static int apply_one(PGconn *pg, const char *dir, const migration *m)
{
    char path[4096], v[16];
    const char *params[2] = {v, m->name};
    char *sql;
    PGresult *res;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, m->name) >=
        sizeof path)
        return -1;
    sql = read_file(path);
    if (sql == NULL) {
        fprintf(stderr, "parley-api: cannot read %s\n", path);
        return -1;
    }
    if (!command_ok(pg, "BEGIN", PGRES_COMMAND_OK)) {
        free(sql);
        return -1;
    }
    res = PQexec(pg, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK &&
        PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "parley-api: %s failed: %s", m->name,
                PQerrorMessage(pg));
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    snprintf(v, sizeof v, "%u", m->version);
    res = PQexecParams(pg,
                       "INSERT INTO schema_version (version, name)"
                       " VALUES ($1, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "parley-api: recording %s: %s", m->name,
                PQerrorMessage(pg));
        PQclear(res);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    res = PQexec(pg, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK ||
        strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        fprintf(stderr, "parley-api: committing %s: %s", m->name,
                PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int migrate_run(const char *conninfo, const char *dir)
{
    migration *list = NULL;
    size_t n = 0, applied = 0;
    db_conn *db = NULL;
    PGconn *pg;
    int rc = -1;

    if (list_migrations(dir, &list, &n) != 0)
        return -1;
    db = db_conn_open(conninfo);
    if (db == NULL)
        goto done;
    pg = db_conn_pg(db);
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    if (!command_ok(pg, MIGRATE_LOCK_SQL, PGRES_TUPLES_OK))
        goto done;
    if (!command_ok(pg,
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version int PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    PGRES_COMMAND_OK))
        goto unlock;
    for (size_t i = 0; i < n; i++) {
        int done = is_applied(pg, list[i].version);
        if (done < 0)
            goto unlock;
        if (done)
            continue;
        if (apply_one(pg, dir, &list[i]) != 0)
            goto unlock;
        printf("applied %s\n", list[i].name);
        applied++;
    }
    if (applied == 0)
        printf("schema is up to date (%zu migrations)\n", n);
    fflush(stdout);
    rc = 0;
unlock:
    command_ok(pg, MIGRATE_UNLOCK_SQL, PGRES_TUPLES_OK);
done:
    db_conn_close(db);
    free_migrations(list, n);
    return rc;
}
