-- 010_messages_conversation_check.sql - every message belongs to a
-- conversation that exists, checked once per statement instead of once per
-- row.
--
-- The foreign key messages.conv_id -> conversations (001) looked up and
-- locked a conversation for every message inserted: about a quarter of what
-- storing a message cost PostgreSQL, for batches whose thousand rows name a
-- handful of conversations.  Triggers now keep the same rule:
--
-- * After each statement that inserts messages (the writer's COPY, its
--   INSERT ... ON CONFLICT), the conversations its rows name are locked
--   FOR KEY SHARE, as the foreign key did, so a conversation cannot be
--   deleted while a batch for it is being stored; if one of them is gone the
--   statement fails with foreign_key_violation (23503), as it did before.
-- * Deleting a conversation deletes its messages (ON DELETE CASCADE did).
--   The delete waits for the batches that locked the conversation, and the
--   messages are deleted by a statement of its own, which sees what those
--   batches committed meanwhile.  TRUNCATE of conversations empties messages.
-- * A message's conversation cannot be changed.

ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conv_id_fkey;

CREATE FUNCTION parley_messages_check_conversations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked bigint;
    missing uuid;
BEGIN
    SELECT count(DISTINCT conv_id) INTO wanted FROM inserted;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM conversations
        WHERE id IN (SELECT conv_id FROM inserted)
        FOR KEY SHARE
    ) AS l;
    IF locked < wanted THEN
        SELECT i.conv_id INTO missing FROM inserted i
        WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = i.conv_id)
        LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'a message names a conversation that does not exist',
            DETAIL = format('Conversation %s does not exist.', missing),
            TABLE = 'messages', COLUMN = 'conv_id';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_conv_id AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION parley_messages_check_conversations();

CREATE FUNCTION parley_messages_keep_conversation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE integrity_constraint_violation USING
        MESSAGE = 'a message cannot move to another conversation',
        TABLE = 'messages', COLUMN = 'conv_id';
END
$$;

CREATE TRIGGER messages_conv_id_fixed BEFORE UPDATE OF conv_id ON messages
    FOR EACH ROW WHEN (NEW.conv_id IS DISTINCT FROM OLD.conv_id)
    EXECUTE FUNCTION parley_messages_keep_conversation();

CREATE FUNCTION parley_conversation_delete_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE messages;
    ELSE
        DELETE FROM messages WHERE conv_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_delete_messages AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION parley_conversation_delete_messages();

CREATE TRIGGER conversations_truncate_messages AFTER TRUNCATE ON conversations
    FOR EACH STATEMENT EXECUTE FUNCTION parley_conversation_delete_messages();
