-- history_data.sql - the history benchmark's data set, generated straight
-- into Parley's tables (bench/history.py runs it with psql):
--
--   :users generated users (they never log in), :convs group conversations
--   of the reader (:'owner', a real account) and three generated members,
--   :messages messages spread evenly over the conversations.
--
-- Ids are deterministic so that wrk (bench/history.lua) and pgbench
-- (bench/history_pgbench.sql) can name them from a number i:
--   conversation i  00000000-0000-4000-8000-<i in 12 hex digits>
--   user i          00000000-0000-4000-a000-<i in 12 hex digits>
-- Message ids are valid Parley ids, ((ms - 1704067200000) << 22) | (node << 12)
-- | seq, one per millisecond from :base_ms, node 1022 (no broker uses it),
-- so they sort by time like the broker's; seq (the sync sequence) is NULL.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
BEGIN;

INSERT INTO users (id, username, display_name, password_hash)
SELECT ('00000000-0000-4000-a000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'hist' || i, 'History ' || i, '!'
FROM generate_series(1, :users) AS i;

INSERT INTO conversations (id, kind, title, created_by)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       'group', 'history ' || i, :'owner'::uuid
FROM generate_series(1, :convs) AS i;

INSERT INTO members (conv_id, user_id, role)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       :'owner'::uuid, 'owner'
FROM generate_series(1, :convs) AS i;

INSERT INTO members (conv_id, user_id, role)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       ('00000000-0000-4000-a000-' || lpad(to_hex((i * 3 + k) % :users + 1), 12, '0'))::uuid,
       'member'
FROM generate_series(1, :convs) AS i, generate_series(0, 2) AS k;

-- Message n goes to conversation n % convs + 1, sent by one of its three
-- generated members.
INSERT INTO messages (id, conv_id, sender_id, txn, type, body, ts, seq)
SELECT ((:base_ms::bigint + n - 1704067200000) << 22) | (1022 << 12),
       ('00000000-0000-4000-8000-' || lpad(to_hex(n % :convs + 1), 12, '0'))::uuid,
       ('00000000-0000-4000-a000-'
        || lpad(to_hex(((n % :convs + 1) * 3 + n % 3) % :users + 1), 12, '0'))::uuid,
       'h' || n, 'text',
       'history message ' || n || ' lorem ipsum dolor sit amet, consectetur adipiscing elit',
       to_timestamp((:base_ms::bigint + n) / 1000.0), NULL
FROM generate_series(1, :messages) AS n;

COMMIT;
ANALYZE users;
ANALYZE conversations;
ANALYZE members;
ANALYZE messages;
