-- 009_messages_indexes.sql - drops messages_seq (003), an index on the
-- change sequence alone that no query reads: sync finds a conversation's
-- changes through messages_conv_seq.  Every stored message paid for its
-- upkeep.
DROP INDEX IF EXISTS messages_seq;
