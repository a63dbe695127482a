"""test_durability.py - an accepted message is never lost.

Per DESIGN.md ("Durability"): a QoS 1 message is accepted when the broker
sends PUBACK, and every accepted message ends up in PostgreSQL exactly
once, even if the broker is killed right after accepting it and the
publisher never comes back (the plugin's spool is replayed on start).

These tests kill and restart the stack's broker (and stop its database),
so they need the stack fixture to name its directory for scripts/stack.
"""

import random
import subprocess
import uuid

import pytest

from chat_support import (
    V5,
    create_conversation,
    expect,
    history_messages,
    login,
    new_txn,
    psql,
    stack_dir,
    stack_service,
    stack_value,
    text_message,
    wait_until,
)
from chat_support import http, new_user, open_peer  # noqa: F401  (pytest fixtures)

COUNT = 300
STORE_WAIT = 90.0

STORED_SQL = """
SELECT count(*) FROM messages
 WHERE sender_id = :'sender'::uuid AND conv_id = :'conv'::uuid
   AND txn LIKE :'prefix' || '%';
"""


class Services:
    """Stops and starts the services of the session's stack, and puts them
    back as they were when the test ends."""

    def __init__(self, stack):
        self.stack = stack
        self.stopped = []
        self.db_restarted = False

    def stop(self, service, kill=False):
        self.stopped.append(service)
        self.db_restarted |= service == "db"
        stack_service(self.stack, "stop", service, kill=kill)

    def start(self, service):
        stack_service(self.stack, "start", service)
        self.stopped.remove(service)

    def own_database(self):
        return "OWN_DB='1'" in (stack_dir(self.stack) / "stack.state").read_text()

    def restore(self):
        for service in ("db", "broker", "api"):
            if service in self.stopped:
                self.start(service)
        if self.db_restarted:
            # parley-api's pooled connections died with the database; later
            # tests should not trip over what
            # test_api_answers_right_after_the_database_restarts is about.
            self.stop("api")
            self.start("api")


@pytest.fixture
def restartable(stack):
    """Skips unless the services of the test stack can be restarted; makes
    sure everything runs again after the test, whatever happened."""
    if stack_dir(stack) is None:
        pytest.skip("the stack fixture does not expose its directory, so the "
                    "broker cannot be restarted (conftest.py needs to provide it)")
    services = Services(stack)
    yield services
    services.restore()


def stored_count(stack, sender, conv, prefix):
    return int(psql(stack, STORED_SQL, sender=sender.id, conv=conv, prefix=prefix)[0])


def publish_all_acknowledged(peer, topic, prefix, count=COUNT):
    """Publishes count QoS 1 messages and waits for every PUBACK.  Returns
    the txns the broker accepted."""
    txns = [f"{prefix}{n}" for n in range(count)]
    infos = [peer.publish_nowait(topic, text_message(t, f"durable {t}")) for t in txns]
    for info in infos:
        info.wait_for_publish(STORE_WAIT)
        assert info.is_published(), "a QoS 1 publish was never acknowledged"
        code = peer.puback_code(info)
        assert code < 0x80, f"a publish was refused with reason {code:#x}"
    return txns


@pytest.fixture
def pair(http, new_user, open_peer):
    sender, reader = new_user("dsender"), new_user("dreader")
    conv = create_conversation(http, sender, "direct", [reader])["id"]
    # The broker learns of the conversation through NOTIFY shortly after the
    # HTTP answer; start the test once it has (a slowed broker, as under
    # valgrind, would otherwise refuse the first publish as a stranger's).
    probe = open_peer(sender, device="probe")
    probe.subscribe_ok(f"conv/{conv}/m")
    probe.close()
    return sender, reader, conv


def test_pubacked_messages_are_stored_after_the_broker_is_killed(
        http, restartable, pair, open_peer):
    sender, reader, conv = pair
    peer = open_peer(sender, protocol=V5)
    prefix = new_txn("kill") + "-"
    publish_all_acknowledged(peer, f"conv/{conv}/m", prefix)
    restartable.stop("broker", kill=True)
    peer.close()
    restartable.start("broker")

    wait_until(lambda: stored_count(restartable.stack, sender, conv, prefix) >= COUNT,
               STORE_WAIT, f"all {COUNT} acknowledged messages in PostgreSQL")
    assert stored_count(restartable.stack, sender, conv, prefix) == COUNT
    stored = history_messages(http, reader, conv, limit=200)
    assert all(m["from"] == sender.id and m["conv"] == conv for m in stored)


def test_pubacked_messages_are_stored_when_the_broker_is_killed_while_the_database_is_down(
        restartable, pair, open_peer):
    """With PostgreSQL down nothing can be committed before the kill, so the
    messages survive only through the spool."""
    if not restartable.own_database():
        pytest.skip("the stack uses an external database, which a test must not stop")
    sender, reader, conv = pair
    peer = open_peer(sender, protocol=V5, subscribe=[sender.inbox])
    restartable.stop("db")
    prefix = new_txn("dbdown") + "-"
    publish_all_acknowledged(peer, f"conv/{conv}/m", prefix, count=100)
    restartable.stop("broker", kill=True)
    peer.close()
    restartable.start("db")
    restartable.start("broker")

    wait_until(lambda: stored_count(restartable.stack, sender, conv, prefix) >= 100,
               STORE_WAIT, "all 100 acknowledged messages in PostgreSQL")
    assert stored_count(restartable.stack, sender, conv, prefix) == 100


def test_resend_after_restart_is_not_stored_twice(http, restartable, pair, open_peer):
    """A client that never saw its app-level ack resends after the restart;
    the (sender, txn) pair is stored once and acked with the first id."""
    sender, reader, conv = pair
    topic = f"conv/{conv}/m"
    peer = open_peer(sender, protocol=V5)
    txn = new_txn("resend")
    peer.publish_ok(topic, text_message(txn, "once"))
    restartable.stop("broker", kill=True)
    peer.close()
    restartable.start("broker")

    again = open_peer(sender, subscribe=[sender.inbox])
    again.publish_ok(topic, text_message(txn, "once"))
    acked = again.wait_ack(sender.inbox, txn, timeout=STORE_WAIT)
    wait_until(lambda: stored_count(restartable.stack, sender, conv, txn) >= 1, STORE_WAIT,
               "the message in PostgreSQL")
    assert stored_count(restartable.stack, sender, conv, txn) == 1
    [stored] = [m for m in history_messages(http, reader, conv) if m["txn"] == txn]
    assert stored["id"] == acked


def test_resend_of_a_stored_message_after_restart_is_delivered_with_its_stored_id(
        http, restartable, pair, open_peer):
    """The first copy was stored and acked before the restart (so it is no
    longer in the spool); the client resends anyway.  The broker seeds its
    table of recent stamps from the database at start, so the live copy
    other members get carries the stored id and time: one message, not
    two."""
    sender, reader, conv = pair
    topic = f"conv/{conv}/m"
    first = open_peer(sender, subscribe=[sender.inbox])
    txn = new_txn("stored")
    first.publish_ok(topic, text_message(txn, "said once"))
    first_id = first.wait_ack(sender.inbox, txn, timeout=STORE_WAIT)
    [stored] = [m for m in history_messages(http, reader, conv) if m["txn"] == txn]
    assert stored["id"] == first_id
    restartable.stop("broker")
    first.close()
    restartable.start("broker")

    listening = open_peer(reader, device="listening", subscribe=[topic])
    again = open_peer(sender, device="again", subscribe=[sender.inbox])
    again.publish_ok(topic, text_message(txn, "said once"))
    live = listening.wait_for(topic, lambda m: isinstance(m.json, dict)
                              and m.json.get("txn") == txn).json
    assert live["id"] == first_id
    assert live["ts"] == stored["ts"]
    assert again.wait_ack(sender.inbox, txn, timeout=STORE_WAIT) == first_id
    assert stored_count(restartable.stack, sender, conv, txn) == 1


def test_api_answers_right_after_the_database_restarts(http, restartable, new_user):
    """Every parley-api worker holds a database connection that a restart of
    PostgreSQL breaks; the next requests must still be answered (reconnect
    and retry), not fail with 500.  Refresh is the request whose first
    statement opens a transaction, with no bearer check before it."""
    if not restartable.own_database():
        pytest.skip("the stack uses an external database, which a test must not stop")
    owner, member = new_user("dbowner"), new_user("dbmember")
    refresh_tokens = [expect(login(http, owner.username, device=f"dev{n}"), 200)["refresh_token"]
                      for n in range(8)]
    restartable.stop("db")
    restartable.start("db")
    answers = [http.post("/v1/auth/refresh", {"refresh_token": t}) for t in refresh_tokens]
    answers += [http.post("/v1/conversations",
                          {"kind": "group", "title": f"after restart {n}", "members": [member.id]},
                          token=owner.token) for n in range(8)]
    assert [a.status for a in answers] == [200] * 8 + [201] * 8, \
        [a for a in answers if a.status not in (200, 201)]


# ------------------------------------------------ messages and conversations


class HeldSession:
    """One psql session kept open across the steps of a test, so that a
    transaction (and its locks) can stay open while the broker works."""

    DONE = "-- done --"

    def __init__(self, stack):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-d", stack_value(stack, "PARLEY_DATABASE_URL")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)

    def run(self, sql):
        """Runs sql; returns its output lines (a failure ends the session)."""
        self.proc.stdin.write(f"{sql}\n\\echo '{self.DONE}'\n")
        self.proc.stdin.flush()
        lines = []
        for line in self.proc.stdout:
            if line.rstrip("\n") == self.DONE:
                return lines
            lines.append(line.rstrip("\n"))
        raise AssertionError(f"psql ended: {lines}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def next_id():
    """An id no message has (random, below the ids the broker mints now)."""
    return random.getrandbits(52)


def publish_one(peer, topic, body):
    """Publishes one text message (PUBACK awaited); returns its txn."""
    txn = new_txn(body)
    peer.publish_ok(topic, text_message(txn, body))
    return txn


@pytest.fixture
def held_session(stack):
    sessions = []

    def make():
        sessions.append(HeldSession(stack))
        return sessions[-1]
    yield make
    for s in sessions:
        s.close()


def test_a_message_must_name_a_conversation_that_exists(stack, pair):
    """messages.conv_id is checked once per statement (triggers of
    schema/010): no message is stored in a conversation that does not exist,
    none moves to another conversation, and a deleted conversation takes its
    messages with it."""
    sender, _reader, conv = pair
    missing = str(uuid.uuid4())
    row = ("(:'id'::bigint, :'conv'::uuid, :'sender'::uuid, :'txn', 'text', 'b', now())")
    insert = f"INSERT INTO messages (id, conv_id, sender_id, txn, type, body, ts) VALUES {row}"
    for statement in (insert, insert + " ON CONFLICT (sender_id, txn) DO NOTHING"):
        with pytest.raises(AssertionError, match="does not exist"):
            psql(stack, statement + ";", id=next_id(), conv=missing, sender=sender.id,
                 txn=new_txn("orphan"))
    with pytest.raises(AssertionError, match="does not exist"):
        psql(stack, "COPY messages (id, conv_id, sender_id, txn, type, body, ts) FROM STDIN;\n"
             f"{next_id()}\t{conv}\t{sender.id}\t{new_txn('good')}\ttext\tb\t2026-01-01\n"
             f"{next_id()}\t{missing}\t{sender.id}\t{new_txn('bad')}\ttext\tb\t2026-01-01\n"
             "\\.\n")
    assert psql(stack, "SELECT count(*) FROM messages WHERE sender_id = :'s'::uuid"
                " AND (txn LIKE 'orphan%' OR txn LIKE 'good%' OR txn LIKE 'bad%');",
                s=sender.id) == ["0"]

    other = psql(stack, "INSERT INTO conversations (id, kind, title) VALUES"
                 " (gen_random_uuid(), 'group', 'other') RETURNING id;")[0]
    kept = new_txn("kept")
    psql(stack, insert + ";", id=next_id(), conv=conv, sender=sender.id, txn=kept)
    with pytest.raises(AssertionError, match="cannot move"):
        psql(stack, "UPDATE messages SET conv_id = :'other'::uuid WHERE txn = :'txn';",
             other=other, txn=kept)
    assert psql(stack, "SELECT conv_id FROM messages WHERE txn = :'txn';", txn=kept) == [conv]

    psql(stack, "DELETE FROM conversations WHERE id = :'conv'::uuid;", conv=conv)
    assert psql(stack, "SELECT count(*) FROM messages WHERE conv_id = :'conv'::uuid;",
                conv=conv) == ["0"]
    psql(stack, "DELETE FROM conversations WHERE id = :'other'::uuid;", other=other)


def test_a_conversation_deleted_while_its_message_waits_is_not_left_with_it(
        stack, http, new_user, pair, open_peer, held_session):
    """A message accepted for a conversation that is deleted before the
    writer stores it: the writer's batch fails the conversation check and
    the sender is told that the message was not stored; no message of the
    conversation is left behind, and the broker stores the next messages."""
    sender, reader, conv = pair
    topic = f"conv/{conv}/m"
    peer = open_peer(sender, subscribe=[sender.inbox])
    # A first message stored: the writer is connected and waits for work.
    peer.wait_ack(sender.inbox, publish_one(peer, topic, "before"), timeout=STORE_WAIT)

    # The writer takes its change numbers under change_counter's row lock;
    # holding it keeps the next batch waiting before its COPY.
    held = held_session()
    held.run("BEGIN; SELECT value FROM change_counter FOR UPDATE;")
    txn = publish_one(peer, topic, "caught")
    wait_until(lambda: psql(stack, "SELECT count(*) FROM pg_stat_activity"
                            " WHERE wait_event_type = 'Lock'"
                            " AND query LIKE '%parley_reserve_seq%';") != ["0"],
               STORE_WAIT, "the writer waiting for change_counter")
    held.run(f"DELETE FROM conversations WHERE id = '{conv}';")
    held.run("COMMIT;")

    error = wait_until(lambda: [e for e in peer.errors(sender.inbox) if e.get("txn") == txn],
                       STORE_WAIT, "the not_stored error")[0]
    assert error["code"] == "not_stored"
    assert txn not in [t for _c, t, _i in peer.acks(sender.inbox)]
    assert psql(stack, "SELECT count(*) FROM messages WHERE conv_id = :'conv'::uuid;",
                conv=conv) == ["0"]

    # The writer goes on: a message in another conversation is stored.
    other = create_conversation(http, sender, "direct", [new_user("dother")])["id"]
    peer.subscribe_ok(f"conv/{other}/m")
    after = publish_one(peer, f"conv/{other}/m", "after")
    assert peer.wait_ack(sender.inbox, after, timeout=STORE_WAIT)
