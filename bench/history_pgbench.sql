-- history_pgbench.sql - pgbench script of the history benchmark: the SQL
-- parley-api runs for GET /v1/conversations/{c}/messages?limit=50 (the
-- member check, then the newest page plus one row to tell has_more; see
-- STMT_MEMBER_ROLE and STMT_MSGS_LATEST in httpapi/db.c), for a random
-- conversation of the generated data set.  Run with -M prepared (the API
-- uses named prepared statements) and -D convs=N -D owner=<uuid>
-- -D limit=51.
\set c random(1, :convs)
SELECT role FROM members
 WHERE conv_id = ('00000000-0000-4000-8000-' || lpad(to_hex(:c::int), 12, '0'))::uuid
   AND user_id = :owner::uuid;
SELECT parley_message_json(x)::text FROM messages x
 WHERE x.conv_id = ('00000000-0000-4000-8000-' || lpad(to_hex(:c::int), 12, '0'))::uuid
 ORDER BY x.id DESC LIMIT :limit;
