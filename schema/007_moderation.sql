-- 007_moderation.sql - reports from users and the audit trail of admin
-- actions (bans, unbans, hidden messages, report resolutions).
--
-- Bans themselves live in users.banned_until (001): the API refuses logins,
-- refreshes and bearer tokens while it lies ahead, and the broker reads it
-- into its user flags.  A ban without an end is stored as the last second
-- of 9999, not 'infinity', so its epoch stays a bigint for every reader.

-- A user's report about a message (of a conversation they are a member
-- of) and/or a user.  conv_id and snapshot (the message object as the
-- reporter saw it) keep the evidence when the message is later deleted.
CREATE TABLE reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id  bigint,
    conv_id     uuid,
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    snapshot    jsonb,
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_by uuid,
    resolved_at timestamptz,
    CHECK (message_id IS NOT NULL OR user_id IS NOT NULL),
    CHECK ((status = 'open') = (resolved_at IS NULL))
);
-- Keyset paging of the admin list, all statuses or one, newest first.
CREATE INDEX reports_status_id ON reports (status, id DESC);

-- Every admin action, written in the action's own transaction.  actor_id
-- has no foreign key: the trail outlives accounts.  target is the user
-- uuid, message id or report id the action was about.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   uuid NOT NULL,
    action     text NOT NULL CHECK (action IN ('ban', 'unban', 'hide',
                                               'report_resolved',
                                               'report_dismissed')),
    target     text NOT NULL,
    reason     text,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: rows are never changed or removed, whoever asks.
CREATE FUNCTION parley_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION parley_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION parley_audit_append_only();
