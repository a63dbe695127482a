-- 004_message_json.sql - the message object can no longer be forged by the
-- sender's extra fields.
--
-- In 003, parley_message_json appended m.extra after the server's fields,
-- so a stored extra key named id, from, ts, type, ... (or edited_at,
-- deleted, hidden) replaced the server's value in history, sync and the
-- broker's edit events.  Here extra comes first, without the keys the
-- server owns, and the server's fields are laid over it.  The broker
-- strips those keys before storing, so existing rows read the same.

CREATE OR REPLACE FUNCTION parley_message_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN m.deleted_at IS NOT NULL OR m.hidden_at IS NOT NULL THEN
                   '{}'::jsonb
               ELSE
                   m.extra - ARRAY['body', 'edited_at', 'deleted',
                                   'deleted_at', 'hidden']
           END
           || jsonb_build_object(
               'id', m.id::text,
               'conv', m.conv_id,
               'from', m.sender_id,
               'ts', (extract(epoch FROM m.ts) * 1000)::bigint,
               'txn', m.txn,
               'type', m.type)
           || CASE
                  WHEN m.deleted_at IS NOT NULL THEN
                      jsonb_build_object('deleted', true, 'deleted_at',
                          (extract(epoch FROM m.deleted_at) * 1000)::bigint)
                  WHEN m.hidden_at IS NOT NULL THEN
                      jsonb_build_object('hidden', true)
                  ELSE
                      CASE WHEN m.body IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('body', m.body) END
                      || CASE WHEN m.edited_at IS NULL THEN '{}'::jsonb
                              ELSE jsonb_build_object('edited_at',
                                  (extract(epoch FROM m.edited_at) * 1000)::bigint) END
              END
$$;
