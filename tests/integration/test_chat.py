"""test_chat.py - chat end to end: users register and log in over HTTP, talk
over MQTT (TCP and WebSockets), the broker stamps, stores and acks every
message, and history over HTTP returns what subscribers received.

Per DESIGN.md ("Payloads", "Durability", "HTTP API").
"""

import json
import threading
import types

import pytest

from chat_support import (
    ID_RE,
    RC_NOT_AUTHORIZED,
    V5,
    WAIT,
    barrier,
    create_conversation,
    expect,
    history,
    history_messages,
    new_txn,
    now_ms,
    text_message,
    wait_until,
)
from chat_support import http, new_user, open_peer  # noqa: F401  (pytest fixtures)

UNICODE_BODY = "h\u00e9llo w\u00f6rld \u2014 \u4f60\u597d \U0001f44b\U0001f3fd \U0001f389"
MESSAGE_FIELDS = ("id", "conv", "from", "ts", "txn", "type", "body")


@pytest.fixture
def direct_chat(http, new_user, open_peer):
    """Alice (MQTT over TCP) and Bob (MQTT over WebSockets) in a direct
    conversation, each subscribed to it and to their own inbox."""
    alice, bob = new_user("alice"), new_user("bob")
    conv = create_conversation(http, alice, "direct", [bob])
    topic = f"conv/{conv['id']}/m"
    a = open_peer(alice, transport="tcp", subscribe=[topic, alice.inbox])
    b = open_peer(bob, transport="websockets", subscribe=[topic, bob.inbox])
    return types.SimpleNamespace(conv=conv["id"], topic=topic, alice=alice, bob=bob, a=a, b=b)


def assert_rewritten(msg, conv_id, sender, txn, body):
    """msg is the server's rewrite of {"txn","type":"text","body"}."""
    assert isinstance(msg.get("id"), str) and ID_RE.match(msg["id"]), msg
    assert 0 < int(msg["id"]) < 2**63, msg
    assert msg["conv"] == conv_id, msg
    assert msg["from"] == sender.id, msg
    assert isinstance(msg["ts"], int) and not isinstance(msg["ts"], bool), msg
    # A sanity window on the server's clock, not a speed assertion.
    assert abs(msg["ts"] - now_ms()) < 3600 * 1000, msg
    assert msg["txn"] == txn, msg
    assert msg["type"] == "text", msg
    assert msg["body"] == body, msg


def send_and_receive(sender_peer, sender, receiver_peer, chat, body):
    """sender publishes body; returns (what receiver got, the ack's id)."""
    txn = new_txn()
    sender_peer.publish_ok(chat.topic, text_message(txn, body))
    got = receiver_peer.wait_json(chat.topic, txn=txn, what="the other member's message")
    ack_id = sender_peer.wait_ack(sender.inbox, txn)
    assert_rewritten(got, chat.conv, sender, txn, body)
    return got, ack_id


# ------------------------------------------------------------------ delivery


def test_alice_over_tcp_message_reaches_bob_over_websockets_rewritten(direct_chat):
    c = direct_chat
    got, ack_id = send_and_receive(c.a, c.alice, c.b, c, UNICODE_BODY)
    assert ack_id == got["id"]


def test_bob_over_websockets_message_reaches_alice_over_tcp_rewritten(direct_chat):
    c = direct_chat
    got, ack_id = send_and_receive(c.b, c.bob, c.a, c, "r\u00e9ponse \U0001f600")
    assert ack_id == got["id"]


def test_sender_also_receives_its_own_rewritten_message(direct_chat):
    c = direct_chat
    txn = new_txn()
    c.a.publish(c.topic, text_message(txn, "echo"))
    own = c.a.wait_json(c.topic, txn=txn, what="the sender's own copy")
    assert_rewritten(own, c.conv, c.alice, txn, "echo")
    assert c.a.wait_ack(c.alice.inbox, txn) == own["id"]


def test_ack_names_conversation_and_txn(direct_chat):
    c = direct_chat
    txn = new_txn()
    c.a.publish(c.topic, text_message(txn, "ack me"))
    ack_id = c.a.wait_ack(c.alice.inbox, txn)
    convs = [conv for conv, t, _ in c.a.acks(c.alice.inbox) if t == txn]
    assert convs == [c.conv]
    assert ID_RE.match(ack_id)


def test_exchanged_messages_are_in_history_with_the_delivered_fields(http, direct_chat):
    c = direct_chat
    sent = [send_and_receive(c.a, c.alice, c.b, c, UNICODE_BODY)[0],
            send_and_receive(c.b, c.bob, c.a, c, "second \u2713")[0]]
    for reader in (c.alice, c.bob):
        stored = history_messages(http, reader, c.conv)
        assert [m["id"] for m in stored] == [sent[1]["id"], sent[0]["id"]], stored
        for delivered, kept in zip(reversed(sent), stored):
            assert {k: kept.get(k) for k in MESSAGE_FIELDS} == \
                   {k: delivered[k] for k in MESSAGE_FIELDS}


def test_group_message_reaches_every_member(http, new_user, open_peer):
    owner, m1, m2 = new_user("gowner"), new_user("gm1"), new_user("gm2")
    conv = create_conversation(http, owner, "group", [m1, m2], title="Trio \U0001f3b8")
    topic = f"conv/{conv['id']}/m"
    peers = {acct.id: open_peer(acct, subscribe=[topic, acct.inbox]) for acct in (owner, m1, m2)}
    txn = new_txn()
    peers[m1.id].publish_ok(topic, text_message(txn, "hello group"))
    ack_id = peers[m1.id].wait_ack(m1.inbox, txn)
    for acct in (owner, m2):
        got = peers[acct.id].wait_json(topic, txn=txn, what="the group message")
        assert_rewritten(got, conv["id"], m1, txn, "hello group")
        assert got["id"] == ack_id


def test_client_supplied_id_from_ts_and_conv_are_replaced(http, new_user, direct_chat):
    c = direct_chat
    mallory = new_user("mallory")
    txn = new_txn()
    spoof = text_message(txn, "trust me", id="1", ts=5, conv="00000000-0000-4000-8000-000000000000",
                         **{"from": mallory.id})
    c.a.publish_ok(c.topic, spoof)
    got = c.b.wait_json(c.topic, txn=txn, what="the spoofed message")
    ack_id = c.a.wait_ack(c.alice.inbox, txn)
    assert_rewritten(got, c.conv, c.alice, txn, "trust me")
    assert got["id"] == ack_id and got["id"] != "1"
    assert got["ts"] != 5
    [stored] = [m for m in history_messages(http, c.bob, c.conv) if m["txn"] == txn]
    assert (stored["id"], stored["from"], stored["conv"], stored["ts"]) == \
           (ack_id, c.alice.id, c.conv, got["ts"])


def test_resent_txn_is_stored_once_and_both_acks_carry_the_same_id(http, direct_chat):
    c = direct_chat
    txn = new_txn("dup")
    payload = text_message(txn, "only once")
    c.a.publish_ok(c.topic, payload)
    first = c.a.wait_ack(c.alice.inbox, txn)
    c.a.publish_ok(c.topic, payload)
    acks = None

    def two_acks():
        nonlocal acks
        acks = [i for _, t, i in c.a.acks(c.alice.inbox) if t == txn]
        return len(acks) >= 2

    wait_until(two_acks, WAIT, "the second ack of a resent txn")
    assert acks == [first, first]
    stored = [m for m in history_messages(http, c.alice, c.conv) if m["txn"] == txn]
    assert [m["id"] for m in stored] == [first]
    # Whatever the receiver got carries the one id (clients drop repeats).
    barrier(c.a, c.alice, c.b, c.conv)
    assert {m.json["id"] for m in c.b.messages(c.topic) if m.json.get("txn") == txn} == {first}


# ------------------------------------------------------------------ refusals

INVALID_PAYLOADS = {
    # name: (payload, acceptable codes, txn the error should carry or None)
    "invalid_utf8": (b'{"txn":"bad-utf8","type":"text","body":"caf\xc3\x28 \xff"}',
                     {"invalid_utf8", "invalid_encoding", "invalid_payload"}, None),
    "oversize": (text_message("too-big", "x" * (16 * 1024 + 1)),
                 {"too_large", "payload_too_large"}, None),
    "missing_txn": (b'{"type":"text","body":"no txn"}',
                    {"missing_txn", "invalid_txn"}, None),
    "unknown_type": (b'{"txn":"strange-type","type":"sticker","body":"hi"}',
                     {"unknown_type", "invalid_type"}, "strange-type"),
    "array": (b"[1]", {"invalid_payload", "not_object", "invalid_json"}, None),
    "json_string": (b'"x"', {"invalid_payload", "not_object", "invalid_json"}, None),
    "not_json": (b"hello, this is not JSON", {"invalid_json", "invalid_payload"}, None),
    "body_too_long": (text_message("long-body", "a" * 4001),
                      {"body_too_long", "too_large", "invalid_body"}, "long-body"),
}


@pytest.mark.parametrize("case", sorted(INVALID_PAYLOADS))
def test_invalid_payload_is_refused_with_an_error_and_never_delivered(http, direct_chat, case):
    c = direct_chat
    payload, codes, txn = INVALID_PAYLOADS[case]
    before = len(c.a.errors(c.alice.inbox))
    c.a.publish(c.topic, payload)
    err = c.a.wait_error(c.alice.inbox, before)
    assert err.get("code") in codes, err
    assert isinstance(err.get("detail"), str) and err["detail"], err
    if txn is not None:
        assert err.get("txn") == txn, err
    marker = barrier(c.a, c.alice, c.b, c.conv)
    delivered = [m.payload for m in c.b.messages(c.topic)]
    assert len(delivered) == 1 and json.loads(delivered[0])["txn"] == marker, delivered
    c.a.wait_ack(c.alice.inbox, marker)
    assert [m["txn"] for m in history_messages(http, c.bob, c.conv)] == [marker]


def test_mqtt5_publisher_gets_not_authorized_for_an_invalid_payload(http, new_user, open_peer):
    alice, bob = new_user("alice5"), new_user("bob5")
    conv = create_conversation(http, alice, "direct", [bob])["id"]
    topic = f"conv/{conv}/m"
    a = open_peer(alice, protocol=V5, subscribe=[alice.inbox])
    b = open_peer(bob, subscribe=[topic])
    assert a.publish(topic, b'{"txn":"v5-bad","type":"sticker"}') == RC_NOT_AUTHORIZED
    err = a.wait_error(alice.inbox, 0)
    assert err["txn"] == "v5-bad" and err["code"] in {"unknown_type", "invalid_type"}, err
    a.publish_ok(topic, text_message("v5-good", "fine"))
    got = b.wait_json(topic, txn="v5-good")
    assert [m.json["txn"] for m in b.messages(topic)] == ["v5-good"]
    assert a.wait_ack(alice.inbox, "v5-good") == got["id"]


# ------------------------------------------------------------------ typing


def test_typing_notice_is_delivered_with_the_sender_as_from(http, direct_chat):
    c = direct_chat
    typing = f"conv/{c.conv}/typing"
    c.b.subscribe_ok(typing)
    c.a.publish(typing, json.dumps({"state": "typing", "from": c.bob.id}), qos=0)
    got = c.b.wait_json(typing, state="typing", what="the typing notice")
    assert got["from"] == c.alice.id, got
    # Typing is rate limited, so one notice per test; it is never stored.
    assert history_messages(http, c.alice, c.conv) == []


# ------------------------------------------------------------------ volume

PUBLISHERS = 5
PER_PUBLISHER = 400
TOTAL = PUBLISHERS * PER_PUBLISHER
LOAD_WAIT = 180.0


@pytest.fixture
def loaded_group(http, new_user, open_peer):
    """2,000 QoS 1 messages from 5 concurrent publishers (5 users) in one
    group; returns the group, a reader and {txn: acked id}."""
    users = [new_user(f"load{i}") for i in range(PUBLISHERS)]
    conv = create_conversation(http, users[0], "group", users[1:], title="load")["id"]
    topic = f"conv/{conv}/m"
    peers = [open_peer(u, subscribe=[u.inbox]) for u in users]
    failures = []

    def run(index):
        try:
            infos = [peers[index].publish_nowait(
                topic, text_message(f"load{index}-{n}", f"message {n} from publisher {index}"))
                for n in range(PER_PUBLISHER)]
            for info in infos:
                info.wait_for_publish(LOAD_WAIT)
                if not info.is_published():
                    failures.append(f"publisher {index}: no PUBACK for mid {info.mid}")
                    return
        except Exception as e:  # reported below, on the test's thread
            failures.append(f"publisher {index}: {e!r}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(PUBLISHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOAD_WAIT + 30)
    assert not failures, failures
    assert not any(t.is_alive() for t in threads), "a publisher never finished"

    acked = {}
    for index, (user, peer) in enumerate(zip(users, peers)):
        def all_acked():
            mine = {t: i for _c, t, i in peer.acks(user.inbox)}
            return len(mine) >= PER_PUBLISHER and mine
        mine = wait_until(all_acked, LOAD_WAIT, f"all {PER_PUBLISHER} acks of publisher {index}")
        assert set(mine) == {f"load{index}-{n}" for n in range(PER_PUBLISHER)}
        acked.update(mine)
    return types.SimpleNamespace(conv=conv, reader=users[0], acked=acked)


def test_two_thousand_concurrent_messages_are_acked_stored_and_paged_back(http, loaded_group):
    g = loaded_group
    assert len(g.acked) == TOTAL
    ids = [int(i) for i in g.acked.values()]
    assert len(set(ids)) == TOTAL, "two messages were acked with the same id"

    # Backwards, newest first, 200 at a time with `before`.
    pages, before = [], None
    while True:
        answer = history(http, g.reader, g.conv, limit=200, before=before)
        page = expect(answer, 200)
        assert len(page["messages"]) <= 200
        pages.append(page)
        if not page["has_more"]:
            break
        assert page["messages"], "has_more with an empty page"
        assert len(pages) <= TOTAL // 200 + 1, "paging does not end"
        before = page["messages"][-1]["id"]
    seen = [int(m["id"]) for p in pages for m in p["messages"]]
    assert all(a > b for a, b in zip(seen, seen[1:])), "history is not strictly newest first"
    assert len(seen) == len(set(seen)) == TOTAL
    assert set(seen) == set(ids)
    by_id = {int(m["id"]): m for p in pages for m in p["messages"]}
    assert all(by_id[int(i)]["txn"] == t for t, i in g.acked.items())

    # Forwards with `after`, from before the first message to the end.
    forward, after = [], min(ids) - 1
    for _ in range(TOTAL // 200 + 2):
        page = expect(history(http, g.reader, g.conv, limit=200, after=after), 200)
        got = [int(m["id"]) for m in page["messages"]]
        assert all(a > b for a, b in zip(got, got[1:])), "a page is not newest first"
        assert all(i > after for i in got), "after returned an older message"
        if not got:
            break
        forward.extend(got)
        after = max(got)
        if not page["has_more"]:
            break
    assert sorted(forward) == sorted(ids), "paging forward missed or repeated messages"

