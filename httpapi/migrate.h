/*
 * migrate.h - `parley-api migrate`: applies schema/NNN_*.sql files that the
 * database has not recorded in schema_version yet, in numeric order, each in
 * its own transaction together with its schema_version row, under a
 * session advisory lock so concurrent runs apply each file once.
 *
 * Migration files must not contain transaction control (BEGIN/COMMIT).
 */
#ifndef PARLEY_API_MIGRATE_H
#define PARLEY_API_MIGRATE_H

#include <stddef.h>

/* Parses a migration file name "NNN_anything.sql": one or more digits (a
 * version of at most 9 digits, above 0), an underscore, at least one more
 * character, ".sql" at the end; no '/'.  Returns 0 with *version, or -1 for
 * names that are not migrations. */
int migration_parse_name(const char *name, unsigned *version);

/* Applies the pending migrations of dir to the database at conninfo,
 * printing one line per file applied (or that there was nothing to do) on
 * stdout.  Returns 0, or -1 with the reason printed on stderr. */
int migrate_run(const char *conninfo, const char *dir);

#endif
