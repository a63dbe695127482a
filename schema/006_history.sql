-- 006_history.sql - the message object as JSON text, built cheaply, for
-- history pages that PostgreSQL assembles whole.
--
-- parley_message_json (004) builds a jsonb per row with up to five
-- jsonb_build_object calls and four concatenations, each of which copies
-- and re-sorts the object; a caller then prints it as text.  Paging
-- history spent most of its database time there.  parley_message_json_text
-- yields the same object (tests/integration/test_history_json.py compares
-- the two over rows of every state) by concatenating text: the server's
-- fields are fixed-format (ids, uuids, integers, a type from a CHECK
-- list), so only txn and body need JSON escaping (to_json), and the
-- sender's extra fields are spliced in from their jsonb text only when
-- there are any.  Keys come in the order clients see on conv/{c}/m:
-- id, conv, from, ts, txn, type, body, the sender's other fields, then
-- edited_at, or the deleted/hidden tombstone.
--
-- Both functions are single-expression SQL functions without subqueries,
-- so the planner inlines them: no function call per row, and a whole-row
-- argument is read as plain columns.

-- The members of jsonb object o, without the keys in drop, as JSON text
-- without braces after a leading comma, to be spliced into another
-- object's text: "" when none are left, and for anything but an object.
CREATE FUNCTION parley_json_members(o jsonb, drop text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN jsonb_typeof(o) IS DISTINCT FROM 'object' THEN ''
               WHEN o - drop = '{}'::jsonb THEN ''
               ELSE ',' || substr((o - drop)::text, 2,
                                  length((o - drop)::text) - 2)
           END
$$;

-- The message object (see 003 and 004) as JSON text.  A deleted message
-- is {id, conv, from, ts, txn, type, deleted: true, deleted_at}; a hidden
-- one {..., hidden: true}; otherwise body when there is one, the sender's
-- extra fields without the keys the server owns, and edited_at when set.
CREATE FUNCTION parley_message_json_text(m messages) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"id":"' || m.id::text
           || '","conv":"' || m.conv_id::text
           || '","from":"' || m.sender_id::text
           || '","ts":' || ((extract(epoch FROM m.ts) * 1000)::bigint)::text
           || ',"txn":' || to_json(m.txn)::text
           || ',"type":"' || m.type || '"'
           || CASE
                  WHEN m.deleted_at IS NOT NULL THEN
                      ',"deleted":true,"deleted_at":'
                      || ((extract(epoch FROM m.deleted_at) * 1000)::bigint)::text
                  WHEN m.hidden_at IS NOT NULL THEN
                      ',"hidden":true'
                  ELSE
                      coalesce(',"body":' || to_json(m.body)::text, '')
                      || CASE
                             WHEN m.extra = '{}'::jsonb THEN ''
                             ELSE parley_json_members(m.extra,
                                 ARRAY['id', 'conv', 'from', 'ts', 'txn',
                                       'type', 'body', 'edited_at', 'deleted',
                                       'deleted_at', 'hidden'])
                         END
                      || coalesce(',"edited_at":'
                                  || ((extract(epoch FROM m.edited_at) * 1000)::bigint)::text,
                                  '')
              END
           || '}'
$$;
