-- 003_live.sql - what live messenger features need: a commit-ordered change
-- sequence for offline sync, read/delivered pointers, edits and deletes,
-- membership and conversation events, presence.
--
-- change_counter hands out numbers under a row lock held until commit, so a
-- larger seq is never committed before a smaller one: a client that synced
-- up to seq N has seen every change numbered N or less.  Every writer of
-- messages, receipts or events takes its numbers here, as the last thing
-- before it commits.

CREATE TABLE change_counter (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    value     bigint NOT NULL
);
INSERT INTO change_counter (value) VALUES (0);

-- Reserves n numbers; returns the last one (the range is last-n+1 .. last).
CREATE FUNCTION parley_reserve_seq(n integer) RETURNS bigint
LANGUAGE sql AS $$
    UPDATE change_counter SET value = value + n RETURNING value
$$;

-- A message's seq is renumbered when it is edited, deleted or hidden, so
-- sync returns its latest state once.
ALTER TABLE messages
    ADD COLUMN seq        bigint,
    ADD COLUMN edited_at  timestamptz,
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN hidden_at  timestamptz;
CREATE INDEX messages_seq ON messages (seq);
CREATE INDEX messages_conv_seq ON messages (conv_id, seq);

-- Per (conversation, user, kind) pointer: the newest message id the user's
-- devices have delivered or read.  It only moves forward.
CREATE TABLE receipts (
    conv_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('delivered', 'read')),
    up_to   bigint NOT NULL,
    ts      timestamptz NOT NULL DEFAULT now(),
    seq     bigint NOT NULL,
    PRIMARY KEY (conv_id, user_id, kind)
);
CREATE INDEX receipts_seq ON receipts (seq);
CREATE INDEX receipts_conv_seq ON receipts (conv_id, seq);

-- Membership and conversation events, as published on conv/{c}/event.
CREATE TABLE conv_events (
    seq     bigint PRIMARY KEY,
    conv_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id uuid,  -- the member concerned, for member_* and role_changed
    type    text NOT NULL CHECK (type IN ('member_added', 'member_removed',
                                          'role_changed', 'conv_updated')),
    payload jsonb NOT NULL,
    ts      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conv_events_conv_seq ON conv_events (conv_id, seq);
CREATE INDEX conv_events_user_seq ON conv_events (user_id, seq);

-- tokens_valid_after: access tokens issued at or before it are refused (set
-- by logout everywhere and by a password change).
ALTER TABLE users
    ADD COLUMN last_seen          timestamptz,
    ADD COLUMN presence_hidden    boolean NOT NULL DEFAULT false,
    ADD COLUMN tokens_valid_after timestamptz;

-- Mute per member.
ALTER TABLE members ADD COLUMN muted_until timestamptz;

-- The message object as clients see it (what subscribers receive on
-- conv/{c}/m, plus edited_at, or deleted/hidden as a tombstone without body
-- or attachments).  Used by history, sync and the broker's edit events, so
-- all three agree.
CREATE FUNCTION parley_message_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
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
                      m.extra
                      || CASE WHEN m.body IS NULL THEN '{}'::jsonb
                              ELSE jsonb_build_object('body', m.body) END
                      || CASE WHEN m.edited_at IS NULL THEN '{}'::jsonb
                              ELSE jsonb_build_object('edited_at',
                                  (extract(epoch FROM m.edited_at) * 1000)::bigint) END
              END
$$;
