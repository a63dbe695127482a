-- history_pgbench.sql - pgbench script of the history benchmark: the SQL
-- parley-api runs for GET /v1/conversations/{c}/messages?limit=50, for a
-- random conversation of the generated data set: one statement that checks
-- the reader's account (USER_AUTH_COLS, as STMT_USER_AUTH does for other
-- routes) and membership and returns the whole reply as JSON text
-- (STMT_HISTORY_LATEST, HISTORY_SQL in httpapi/db.c: keep them the same).
-- Run with -M prepared (the API uses named prepared statements) and
-- -D convs=N -D owner=<uuid> -D limit=50.
\set c random(1, :convs)
SELECT coalesce(floor(extract(epoch FROM u.tokens_valid_after))::bigint, 0),
       coalesce(u.banned_until > now(), false), h.page
FROM users u LEFT JOIN LATERAL (
    SELECT '{"messages":[' || coalesce(p.items, '')
        || '],"has_more":' || CASE WHEN p.n = :limit::int AND EXISTS
        (SELECT 1 FROM messages y WHERE y.conv_id = mb.conv_id
         AND y.id < p.edge) THEN 'true' ELSE 'false' END || '}' AS page
    FROM members mb CROSS JOIN LATERAL (
        SELECT string_agg(q.j, ',' ORDER BY q.id DESC) AS items,
        min(q.id) AS edge, count(*) AS n FROM (
            SELECT x.id, parley_message_json_text(x) AS j FROM messages x
            WHERE x.conv_id = mb.conv_id
            ORDER BY x.id DESC LIMIT :limit::int) q) p
    WHERE mb.conv_id = ('00000000-0000-4000-8000-' || lpad(to_hex(:c::int), 12, '0'))::uuid
      AND mb.user_id = u.id) h ON true
WHERE u.id = :owner::uuid;
