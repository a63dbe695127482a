-- 001_core.sql - users, login sessions, conversations, members, messages.
--
-- Applied once, in order, by scripts/stack and `parley-api migrate`, which
-- record each file's number in schema_version.  Times of messages are stored
-- as timestamptz and converted to and from unix milliseconds exactly.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'device')),
    password_hash text NOT NULL,
    banned_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- One row per login (a device's sign-in); refresh tokens rotate within it.
CREATE TABLE login_sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device       text NOT NULL DEFAULT 'default',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    revoke_reason text
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);

-- Refresh tokens are kept only as SHA-256 hashes.  A token with rotated_at
-- set was already exchanged: presenting it again revokes its session.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE conversations (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('direct', 'group', 'channel')),
    title      text CHECK (title IS NULL OR length(title) BETWEEN 1 AND 128),
    -- For direct conversations: the two user ids, sorted and joined by ':',
    -- so the same pair gets one conversation.
    direct_key text UNIQUE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

CREATE TABLE members (
    conv_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conv_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- Chat messages as the broker stamped them.  id is the server's time-ordered
-- 64-bit id; (sender_id, txn) makes a client's resend idempotent; extra holds
-- the rest of the client's payload (reply_to, attachments, e2e, data).
CREATE TABLE messages (
    id        bigint PRIMARY KEY,
    conv_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id uuid NOT NULL,
    txn       text NOT NULL,
    type      text NOT NULL CHECK (type IN ('text', 'media', 'e2e', 'data')),
    body      text,
    extra     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ts        timestamptz NOT NULL,
    UNIQUE (sender_id, txn)
);
-- Keyset paging of one conversation's history, newest first.
CREATE INDEX messages_conv_id ON messages (conv_id, id DESC);
