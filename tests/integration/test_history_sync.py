"""test_history_sync.py - the HTTP side of the live messenger: the read
pointer over HTTP and unread counts, several devices seeing one pointer,
editing and deleting messages, offline sync (`GET /v1/sync`), mute, and
account changes through `PATCH /v1/me` (display name, hidden presence,
password).

Per DESIGN.md ("HTTP API", "Payloads"), docs/PROTOCOL.md ("Receipts",
"Presence", "Staying connected"), docs/ARCHITECTURE.md ("Events from
parley-api to the brokers", "Offline sync and the change sequence") and
httpapi/openapi.yaml.  What parley-api changes, the broker publishes: these
tests watch both sides.

Tests that wait out the edit and delete windows share one private stack
started with `--edit-window 2 --delete-window 2` (`short_window_stack`).

Negative checks use a barrier: something that must arrive after what must
not (a later receipt, a later event, a later message), then look back.
"""

import collections
import json
import secrets
import time

import pytest

import parley
from live_support import (
    CONNACK_REFUSED,
    id_at,
    open_room,
    private_stack,
    receipt_rows,
    received_json,
    subscribe_when_allowed,
    wait_outcomes,
)
from sync_support import (
    conversation,
    event_ids,
    history,
    history_message,
    listed_conversation,
    mark_read,
    member,
    message_events,
    now_ms,
    read_pointer,
    seq_of,
    sync_all,
    sync_page,
    wait_past,
)

RECEIPT_FIELDS = {"type", "up_to", "conv", "from", "ts"}
SERVER_FIELDS = ("id", "conv", "from", "ts", "txn", "type")
SHORT_WINDOW_S = 2  # the private stack's --edit-window and --delete-window


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def short_window_stack(request):
    """A private stack whose authors may edit and delete for 2 seconds."""
    yield from private_stack(
        request, api_args=f"--edit-window {SHORT_WINDOW_S} --delete-window {SHORT_WINDOW_S}",
        prefix="parley-sync-")


@pytest.fixture(scope="module")
def short_api(short_window_stack):
    return short_window_stack.api()


@pytest.fixture
def short_mqtt(short_window_stack):
    m = short_window_stack.mqtt()
    yield m
    m.close_all()


def two_members(api, mqtt):
    """a (owner) and b in a group, one device each on conv/{c}/# and inbox."""
    return open_room(api, mqtt, {"a": ["d1"], "b": ["d1"]})


def assert_is_ms_timestamp(value):
    assert isinstance(value, int) and not isinstance(value, bool), value
    # A sanity window on the server's clock (same host), not a speed check.
    assert abs(value - now_ms()) < 3600 * 1000, value


def read_receipts(client, topic, user):
    """The up_to of every read receipt from user that client received."""
    return [r["up_to"] for r in received_json(client, topic, {"type": "read", "from": user})]


def patch_message(api, user, message_id, body):
    return api.patch(f"/v1/messages/{message_id}", user, json={"body": body})


def delete_message(api, user, message_id):
    return api.delete(f"/v1/messages/{message_id}", user)


# ------------------------------------------------------------------ read pointer over HTTP


def test_http_read_moves_the_pointer_publishes_the_receipt_and_counts_unread(api, mqtt):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    A, B = room.users["a"], room.users["b"]
    receipt = room.topic("receipt")
    m1, m2, m3 = (room.send("a", body) for body in ("one", "two", "three"))

    resp = mark_read(api, B, room.conv, m2)

    assert resp.status == 204, resp
    want = {"type": "read", "up_to": m2, "conv": room.conv, "from": B.id}
    to_sender = a.wait_message(receipt, want).json
    assert set(to_sender) == RECEIPT_FIELDS, to_sender
    assert_is_ms_timestamp(to_sender["ts"])
    assert b.wait_message(receipt, want).json == to_sender  # the reader's device too

    as_a = conversation(api, A, room.conv)
    assert member(as_a, B)["read_up_to"] == m2
    assert member(as_a, A)["read_up_to"] is None
    assert as_a["unread_count"] == 0  # everything is a's own
    as_b = conversation(api, B, room.conv)
    assert member(as_b, B)["read_up_to"] == m2
    assert as_b["unread_count"] == 1  # m3

    # Sync carries the pointer too.
    events, _, _ = sync_all(api, A)
    receipts = [ev for ev in events if ev["type"] == "receipt"]
    assert len(receipts) == 1, receipts
    assert {k: receipts[0].get(k) for k in ("conv", "user", "kind", "up_to")} == {
        "conv": room.conv, "user": B.id, "kind": "read", "up_to": m2}
    assert receipts[0]["ts"] == to_sender["ts"]


def test_backward_or_repeated_http_read_is_accepted_but_moves_and_publishes_nothing(
        api, mqtt, stack):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    A, B = room.users["a"], room.users["b"]
    receipt = room.topic("receipt")
    m1, m2, m3 = (room.send("a", body) for body in ("one", "two", "three"))
    assert mark_read(api, B, room.conv, m2).status == 204
    a.wait_message(receipt, {"type": "read", "up_to": m2})

    backward = mark_read(api, B, room.conv, m1)
    repeated = mark_read(api, B, room.conv, m2)

    assert backward.status == 204, backward
    assert repeated.status == 204, repeated
    assert read_pointer(api, A, room.conv, B) == m2
    assert conversation(api, B, room.conv)["unread_count"] == 1
    # Barrier: a forward move is published after anything the two caused.
    assert mark_read(api, B, room.conv, m3).status == 204
    a.wait_message(receipt, {"type": "read", "up_to": m3})
    b.wait_message(receipt, {"type": "read", "up_to": m3})
    assert read_receipts(a, receipt, B.id) == [m2, m3]
    assert read_receipts(b, receipt, B.id) == [m2, m3]
    assert receipt_rows(stack, room.conv) == {(B.id, "read"): m3}


def test_http_read_of_a_foreign_or_malformed_up_to_is_refused_and_changes_nothing(
        api, mqtt, stack):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    A, B = room.users["a"], room.users["b"]
    receipt = room.topic("receipt")
    m1, m2 = room.send("a", "one"), room.send("a", "two")
    assert mark_read(api, B, room.conv, m1).status == 204
    a.wait_message(receipt, {"type": "read", "up_to": m1})
    # A message of another conversation b is in, and of one b is not in.
    shared = api.create_conversation(A, [B])["id"]
    elsewhere = api.create_conversation(A, [api.register(parley.unique_name("c"))])["id"]
    for conv in (shared, elsewhere):
        subscribe_when_allowed(a, f"conv/{conv}/m")
    in_shared = a.send_and_ack(shared, "in another conversation")["id"]
    in_elsewhere = a.send_and_ack(elsewhere, "in a conversation b is not in")["id"]

    foreign = {
        "another conversation's message": in_shared,
        "a message of a conversation b is not in": in_elsewhere,
        "no such message": "1",
        "no such message either": "9223372036854775807",
        "an id from the future": id_at(now_ms() + 600_000),
    }
    for what, up_to in foreign.items():
        resp = mark_read(api, B, room.conv, up_to)
        # openapi.yaml: not a message of this conversation is 400.
        assert resp.status == 400, (what, resp)
    malformed = ["", "abc", "-1", "1.5", " 1", "0x10", "18446744073709551616", 12, None,
                 [m2], {"id": m2}]
    for up_to in malformed:
        resp = mark_read(api, B, room.conv, up_to)
        assert resp.status == 400, (up_to, resp)
    for body in ({}, {"upto": m2}):
        resp = api.post(f"/v1/conversations/{room.conv}/read", B, json=body)
        assert resp.status == 400, (body, resp)
    for raw in ("", "[]", f'"{m2}"', "{", f'{{"up_to":"{m1}","up_to":"{m2}"}}'):
        resp = api.post(f"/v1/conversations/{room.conv}/read", B, raw_body=raw)
        assert resp.status == 400, (raw, resp)

    assert read_pointer(api, A, room.conv, B) == m1
    assert read_pointer(api, B, shared, B) is None
    # Barrier: a valid move is published after anything the refusals caused.
    assert mark_read(api, B, room.conv, m2).status == 204
    a.wait_message(receipt, {"type": "read", "up_to": m2})
    b.wait_message(receipt, {"type": "read", "up_to": m2})
    assert read_receipts(a, receipt, B.id) == [m1, m2]
    assert read_receipts(b, receipt, B.id) == [m1, m2]
    assert receipt_rows(stack, room.conv) == {(B.id, "read"): m2}
    assert receipt_rows(stack, shared) == {}
    assert receipt_rows(stack, elsewhere) == {}


def test_http_read_by_a_non_member_is_not_found(api, mqtt, stack):
    room = two_members(api, mqtt)
    a, B = room.client("a"), room.users["b"]
    receipt = room.topic("receipt")
    m1 = room.send("a", "members only")
    stranger = api.register(parley.unique_name("s"))

    assert mark_read(api, stranger, room.conv, m1).status == 404
    assert api.get(f"/v1/conversations/{room.conv}", stranger).status == 404
    unknown = "00000000-0000-4000-8000-000000000000"
    for conv in (unknown, room.conv.upper(), "not-a-conversation"):
        assert mark_read(api, B, conv, m1).status == 404, conv
    assert api.post(f"/v1/conversations/{room.conv}/read",
                    json={"up_to": m1}).status == 401  # no token

    # Barrier: b's move is published after anything the refusals caused.
    assert mark_read(api, B, room.conv, m1).status == 204
    a.wait_message(receipt, {"type": "read", "up_to": m1})
    assert [r["from"] for r in received_json(a, receipt)] == [B.id]
    assert receipt_rows(stack, room.conv) == {(B.id, "read"): m1}


# ------------------------------------------------------------------ unread count


def test_unread_count_follows_the_read_pointer_and_never_counts_own_messages(api, mqtt):
    room = two_members(api, mqtt)
    A, B = room.users["a"], room.users["b"]
    ids = [room.send("a", f"unread {i}") for i in range(5)]

    assert listed_conversation(api, B, room.conv)["unread_count"] == 5
    assert conversation(api, B, room.conv)["unread_count"] == 5
    assert listed_conversation(api, A, room.conv)["unread_count"] == 0
    own = [room.send("b", "mine 1"), room.send("b", "mine 2")]
    assert listed_conversation(api, B, room.conv)["unread_count"] == 5
    assert listed_conversation(api, A, room.conv)["unread_count"] == 2

    assert mark_read(api, B, room.conv, ids[2]).status == 204

    assert listed_conversation(api, B, room.conv)["unread_count"] == 2
    assert conversation(api, B, room.conv)["unread_count"] == 2
    # Reading up to one's own newest message reads everything before it.
    assert mark_read(api, B, room.conv, own[-1]).status == 204
    assert listed_conversation(api, B, room.conv)["unread_count"] == 0
    # a's pointer is a's own: b's reading changed nothing for a.
    assert listed_conversation(api, A, room.conv)["unread_count"] == 2
    assert mark_read(api, A, room.conv, ids[-1]).status == 204
    assert listed_conversation(api, A, room.conv)["unread_count"] == 2
    assert mark_read(api, A, room.conv, own[0]).status == 204
    assert listed_conversation(api, A, room.conv)["unread_count"] == 1
    # A deleted message is no longer unread.
    more = room.send("a", "unread again")
    assert conversation(api, B, room.conv)["unread_count"] == 1
    assert delete_message(api, A, more).status == 204
    assert conversation(api, B, room.conv)["unread_count"] == 0


# ------------------------------------------------------------------ several devices


def test_second_device_sees_the_first_devices_read_pointer(api, mqtt):
    room = open_room(api, mqtt, {"a": ["d1"], "b": ["phone", "desktop"]})
    a, phone, desktop = room.client("a"), room.client("b", "phone"), room.client("b", "desktop")
    A, B = room.users["a"], room.users["b"]
    receipt = room.topic("receipt")
    m1, m2 = room.send("a", "one"), room.send("a", "two")

    # Read on the phone over MQTT: the desktop hears of it.
    phone.publish(receipt, {"type": "read", "up_to": m1})
    want = {"type": "read", "up_to": m1, "conv": room.conv, "from": B.id}
    desktop.wait_message(receipt, want)
    a.wait_message(receipt, want)
    # The fan-out follows the commit: HTTP shows the same pointer.
    assert read_pointer(api, A, room.conv, B) == m1
    assert conversation(api, B, room.conv)["unread_count"] == 1

    # Read over HTTP (say, the web client): both devices hear of it.
    assert mark_read(api, B, room.conv, m2).status == 204
    want = {"type": "read", "up_to": m2, "conv": room.conv, "from": B.id}
    for client in (phone, desktop, a):
        client.wait_message(receipt, want)
    assert conversation(api, B, room.conv)["unread_count"] == 0
    assert read_receipts(desktop, receipt, B.id) == [m1, m2]
    assert read_receipts(phone, receipt, B.id) == [m1, m2]


# ------------------------------------------------------------------ edit


def test_author_edits_within_the_window_history_and_members_see_the_new_text(api, mqtt):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    A, B = room.users["a"], room.users["b"]
    event = room.topic("event")
    mid = room.send("a", "teh first version")
    later = room.send("a", "a later message")
    original = history_message(api, B, room.conv, mid)

    resp = patch_message(api, A, mid, "the first version")

    assert resp.status == 200, resp
    edited = resp.json
    assert edited["body"] == "the first version"
    assert_is_ms_timestamp(edited["edited_at"])
    assert edited["edited_at"] >= original["ts"]
    assert {k: edited[k] for k in SERVER_FIELDS} == {k: original[k] for k in SERVER_FIELDS}

    shown = history_message(api, B, room.conv, mid)
    assert shown["body"] == "the first version"
    assert shown["edited_at"] == edited["edited_at"]
    assert shown == edited
    # History keeps its order and the other message as it was.
    assert [m["id"] for m in history(api, B, room.conv)] == [later, mid]
    assert "edited_at" not in history_message(api, B, room.conv, later)

    for client in (b, a):
        ev = client.wait_message(event, {"type": "edited", "id": mid}).json
        assert ev["conv"] == room.conv, ev
        assert ev["message"] == shown, ev
    assert len(received_json(b, event, {"type": "edited"})) == 1


def test_only_the_author_may_edit_and_refusals_change_and_publish_nothing(api, mqtt):
    room = open_room(api, mqtt, {"a": ["d1"], "b": ["d1"], "c": []})
    b = room.client("b")
    A, B, C = room.users["a"], room.users["b"], room.users["c"]
    event = room.topic("event")
    mid = room.send("b", "b wrote this")
    stranger = api.register(parley.unique_name("s"))

    by_owner = patch_message(api, A, mid, "the owner's words")  # owners may not edit
    by_member = patch_message(api, C, mid, "c's words")
    by_stranger = patch_message(api, stranger, mid, "a stranger's words")

    assert (by_owner.status, by_owner.error_code) == (403, "forbidden"), by_owner
    assert (by_member.status, by_member.error_code) == (403, "forbidden"), by_member
    assert by_stranger.status == 404, by_stranger
    for other in ("1", "not-an-id", "0" + mid, "-" + mid, "+" + mid):
        assert patch_message(api, B, other, "no such message").status == 404, other
    for body in ("", 12, None, ["x"], "x" * 4001):
        resp = api.patch(f"/v1/messages/{mid}", B, json={"body": body})
        assert resp.status == 400, (str(body)[:20], resp)
    for raw in ("", "{}", "[]", '{"body":"a","body":"b"}'):
        resp = api.patch(f"/v1/messages/{mid}", B, raw_body=raw)
        assert resp.status == 400, (raw, resp)
    assert api.patch(f"/v1/messages/{mid}", json={"body": "no token"}).status == 401

    kept = history_message(api, C, room.conv, mid)
    assert kept["body"] == "b wrote this"
    assert "edited_at" not in kept
    # Barrier: the author's edit is published after anything the refusals
    # caused.
    assert patch_message(api, B, mid, "b rewrote this").status == 200
    b.wait_message(event, {"type": "edited", "id": mid})
    edits = received_json(b, event, {"type": "edited"})
    assert [e["message"]["body"] for e in edits] == ["b rewrote this"]


def test_only_text_messages_can_be_edited(api, mqtt):
    room = two_members(api, mqtt)
    a = room.client("a")
    A = room.users["a"]
    media = a.send_and_ack(room.conv, "a caption", type="media",
                           attachments=[{"media": "m" + secrets.token_hex(8)}])["id"]
    data = a.send_and_ack(room.conv, None, type="data", data={"temp": 21})["id"]

    for mid in (media, data):
        resp = patch_message(api, A, mid, "now it is text")
        assert resp.status == 400, (mid, resp)

    assert history_message(api, A, room.conv, media)["body"] == "a caption"
    assert "body" not in history_message(api, A, room.conv, data)
    assert all("edited_at" not in m for m in history(api, A, room.conv))


def test_edit_after_the_window_is_refused_and_the_text_kept(short_window_stack, short_api,
                                                            short_mqtt):
    room = two_members(short_api, short_mqtt)
    b = room.client("b")
    A = room.users["a"]
    event = room.topic("event")
    mid = room.send("a", "set in stone")
    sent = history_message(short_api, A, room.conv, mid)
    wait_past(sent["ts"] + SHORT_WINDOW_S * 1000 + 250, "the end of the edit window")

    resp = patch_message(short_api, A, mid, "too late")

    assert resp.status == 403, resp
    assert resp.error_code == "edit_window_passed", resp
    kept = history_message(short_api, A, room.conv, mid)
    assert kept == sent
    # Barrier: the owner's delete (allowed at any time) is published after
    # anything the refused edit caused.
    assert delete_message(short_api, A, mid).status == 204
    b.wait_message(event, {"type": "deleted", "id": mid})
    assert received_json(b, event, {"type": "edited"}) == []


# ------------------------------------------------------------------ delete


def test_author_deletes_a_message_leaving_a_tombstone_in_history_sync_and_events(api, mqtt):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    A, B = room.users["a"], room.users["b"]
    event = room.topic("event")
    kept = room.send("a", "this one stays")
    mid = a.send_and_ack(room.conv, "a caption", type="media", reply_to=kept,
                         attachments=[{"media": "m" + secrets.token_hex(8)}])["id"]
    before = history_message(api, B, room.conv, mid)
    assert before["attachments"] and before["body"] == "a caption"

    resp = delete_message(api, A, mid)

    assert resp.status == 204, resp
    for client in (b, a):
        ev = client.wait_message(event, {"type": "deleted", "id": mid}).json
        assert ev["conv"] == room.conv, ev
        assert "body" not in ev and "body" not in (ev.get("message") or {}), ev

    tomb = history_message(api, B, room.conv, mid)
    assert tomb["deleted"] is True, tomb
    for gone in ("body", "attachments", "reply_to", "e2e", "data"):
        assert gone not in tomb, tomb
    assert {k: tomb[k] for k in ("id", "conv", "from", "ts")} == {
        k: before[k] for k in ("id", "conv", "from", "ts")}
    assert history_message(api, B, room.conv, kept)["body"] == "this one stays"
    assert [m["id"] for m in history(api, B, room.conv)] == [mid, kept]

    events, _, _ = sync_all(api, B)
    about = [ev for ev in message_events(events) if ev["message"]["id"] == mid]
    assert len(about) == 1, about
    assert about[0]["type"] == "deleted", about
    assert about[0]["message"]["deleted"] is True
    for gone in ("body", "attachments", "reply_to"):
        assert gone not in about[0]["message"], about
    assert event_ids(events) == [kept, mid]

    # A tombstone stays one: no edit brings it back, a second delete is a
    # no-op.
    again = patch_message(api, A, mid, "back to life")
    assert (again.status, again.error_code) == (409, "message_deleted"), again
    assert delete_message(api, A, mid).status == 204
    assert history_message(api, B, room.conv, mid) == tomb


def test_member_who_is_neither_author_nor_admin_cannot_delete(api, mqtt):
    room = open_room(api, mqtt, {"a": [], "b": ["d1"], "c": ["d1"]})
    c = room.client("c")
    B, C = room.users["b"], room.users["c"]
    event = room.topic("event")
    mid = room.send("b", "b's words")
    stranger = api.register(parley.unique_name("s"))

    by_member = delete_message(api, C, mid)
    by_stranger = delete_message(api, stranger, mid)

    assert (by_member.status, by_member.error_code) == (403, "forbidden"), by_member
    assert by_stranger.status == 404, by_stranger
    for other in ("1", "not-an-id", "0" + mid):
        assert delete_message(api, C, other).status == 404, other
    assert api.delete(f"/v1/messages/{mid}").status == 401  # no token
    assert history_message(api, C, room.conv, mid)["body"] == "b's words"
    # Barrier: the author's delete is published after anything the refusals
    # caused.
    assert delete_message(api, B, mid).status == 204
    c.wait_message(event, {"type": "deleted", "id": mid})
    assert len(received_json(c, event, {"type": "deleted"})) == 1


def test_owner_and_admin_delete_other_members_messages(api, mqtt):
    room = open_room(api, mqtt, {"a": ["d1"], "b": ["d1"], "c": ["d1"]})
    a = room.client("a")
    A, B, C = room.users["a"], room.users["b"], room.users["c"]
    event = room.topic("event")
    from_b, from_c = room.send("b", "from b"), room.send("c", "from c")

    assert delete_message(api, A, from_b).status == 204  # the owner
    a.wait_message(event, {"type": "deleted", "id": from_b})
    api.call("PATCH", f"/v1/conversations/{room.conv}/members/{B.id}", expect=204,
             token=A, json={"role": "admin"})
    assert delete_message(api, B, from_c).status == 204  # an admin
    a.wait_message(event, {"type": "deleted", "id": from_c})

    for mid in (from_b, from_c):
        tomb = history_message(api, C, room.conv, mid)
        assert tomb["deleted"] is True and "body" not in tomb, tomb


def test_author_delete_after_the_window_is_refused_but_the_owner_may(
        short_window_stack, short_api, short_mqtt):
    room = open_room(short_api, short_mqtt, {"a": [], "b": ["d1"]})
    b = room.client("b")
    A, B = room.users["a"], room.users["b"]
    event = room.topic("event")
    mid = room.send("b", "b wrote this a while ago")
    sent = history_message(short_api, B, room.conv, mid)
    wait_past(sent["ts"] + SHORT_WINDOW_S * 1000 + 250, "the end of the delete window")

    late = delete_message(short_api, B, mid)

    assert (late.status, late.error_code) == (403, "delete_window_passed"), late
    assert history_message(short_api, B, room.conv, mid) == sent
    assert delete_message(short_api, A, mid).status == 204
    b.wait_message(event, {"type": "deleted", "id": mid})
    assert len(received_json(b, event, {"type": "deleted"})) == 1
    assert history_message(short_api, B, room.conv, mid)["deleted"] is True


# ------------------------------------------------------------------ sync


def send_all(clients, plan, tag):
    """Publishes plan [(client key, conv, body)] in order, each client's
    share waiting for its PUBACKs, then waits for every ack.  Returns
    {message id: (conv, client key, body)}."""
    txns = {}
    for key, conv, body in plan:
        txns[clients[key].send(conv, body)] = (key, conv, body)
    sent = {}
    for key, client in clients.items():
        mine = [t for t, (k, _, _) in txns.items() if k == key]
        outcomes = wait_outcomes(client, mine, timeout=60)
        for txn in mine:
            kind, item = outcomes[txn][0]
            assert kind == "ack", (txn, outcomes[txn])
            _, conv, body = txns[txn]
            assert item["conv"] == conv, item
            sent[item["id"]] = (conv, key, body)
    assert len(sent) == len(plan)
    return sent


def check_full_sync(events, me, groups, sent, accounts):
    """events (a sync from 0) hold every sent message once, as a message
    event with its text, only events of groups, and every member_added of
    the groups' members."""
    assert {ev["conv"] for ev in events} <= set(groups)
    messages = message_events(events)
    counts = collections.Counter(event_ids(events))
    assert set(counts) == set(sent), (set(counts) ^ set(sent))
    assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1]
    for ev in messages:
        msg = ev["message"]
        conv, key, body = sent[msg["id"]]
        assert ev["type"] == "message", ev
        assert ev["conv"] == msg["conv"] == conv, ev
        assert (msg["from"], msg["body"], msg["type"]) == (accounts[key].id, body, "text"), ev
    added = collections.Counter((ev["conv"], ev.get("user")) for ev in events
                                if ev["type"] == "member_added")
    for conv, members in groups.items():
        assert added[(conv, me.id)] == 1, (conv, added)
        for key in members:
            assert added[(conv, accounts[key].id)] == 1, (conv, key, added)


def test_sync_pages_every_message_and_membership_once_then_only_whats_new(api, mqtt):
    tag = secrets.token_hex(3)
    accounts = {"me": api.register(parley.unique_name("sync"))}
    for i in range(6):
        accounts[f"p{i}"] = api.register(parley.unique_name(f"p{i}"))
    me = accounts["me"]
    peers = [k for k in accounts if k != "me"]
    # 20 groups of me and 2 or 3 others; half created by me, half by a peer.
    groups = {}
    for g in range(20):
        others = [peers[(g + j) % len(peers)] for j in range(2 + g % 2)]
        if g % 2 == 0:
            conv = api.create_conversation(me, [accounts[k] for k in others])
        else:
            conv = api.create_conversation(accounts[others[0]],
                                           [me] + [accounts[k] for k in others[1:]])
        groups[conv["id"]] = others
    convs = list(groups)
    clients = {key: mqtt.connect(acc) for key, acc in accounts.items()}
    for conv, others in groups.items():
        for key in ["me"] + others:
            subscribe_when_allowed(clients[key], f"conv/{conv}/event")

    plan = []
    for i in range(300):
        conv = convs[i % len(convs)]
        senders = ["me"] + groups[conv]
        plan.append((senders[(i // len(convs)) % len(senders)], conv, f"sync {tag} {i}"))
    sent = send_all(clients, plan, tag)

    events, cursor, pages = sync_all(api, me, "0", limit=50)
    check_full_sync(events, me, groups, sent, accounts)
    assert all(p["has_more"] for p in pages[:-1])
    small, small_cursor, small_pages = sync_all(api, me, "0", limit=7)
    assert [(seq_of(e), e["type"], e["conv"]) for e in small] == [
        (seq_of(e), e["type"], e["conv"]) for e in events]
    assert event_ids(small) == event_ids(events)
    assert len(small_pages) >= -(-len(events) // 7)
    assert seq_of({"seq": small_cursor}) == seq_of({"seq": cursor})
    # Nothing new: an empty page from the last cursor.
    quiet = sync_page(api, me, cursor, 50)
    assert quiet.status == 200, quiet
    assert (quiet.json["events"], quiet.json["has_more"]) == ([], False)

    # Ten more messages and an edit of an older one.
    old_id = next(i for i, (_, key, _) in sent.items() if key != "me")
    old_conv, old_key, _ = sent[old_id]
    more = send_all(clients, [((["me"] + groups[c])[i % 2], c, f"more {tag} {i}")
                              for i, c in enumerate(convs[:10])], tag)
    resp = patch_message(api, accounts[old_key], old_id, f"edited {tag}")
    assert resp.status == 200, resp

    fresh, _, _ = sync_all(api, me, cursor, limit=50)
    assert collections.Counter(ev["type"] for ev in fresh) == {"message": 10, "edited": 1}, fresh
    assert set(event_ids(fresh, ("message",))) == set(more)
    edited = [ev for ev in fresh if ev["type"] == "edited"][0]
    assert edited["conv"] == old_conv, edited
    assert edited["message"]["id"] == old_id
    assert edited["message"]["body"] == f"edited {tag}"
    assert_is_ms_timestamp(edited["message"]["edited_at"])
    # From the start, the edited message shows once, as it now is.
    again, _, _ = sync_all(api, me, "0", limit=50)
    counts = collections.Counter(event_ids(again))
    assert set(counts) == set(sent) | set(more) and max(counts.values()) == 1
    assert [ev["type"] for ev in message_events(again)
            if ev["message"]["id"] == old_id] == ["edited"]


@pytest.mark.parametrize("query", ["abc", "-1", "1.5", "", "%201", "0x10", "1e3",
                                   "18446744073709551616", "%00", "1%00"])
def test_sync_with_a_malformed_cursor_is_a_bad_request(api, query):
    user = api.register(parley.unique_name("c"))

    resp = api.get(f"/v1/sync?since={query}", user)

    assert resp.status == 400, resp


def test_sync_limit_and_token_are_checked(api):
    user = api.register(parley.unique_name("c"))

    for limit in ("0", "-1", "abc", "1.5", "501"):
        resp = sync_page(api, user, "0", limit)
        assert resp.status == 400, (limit, resp)
    assert api.get("/v1/sync", params={"since": "0"}).status == 401
    assert sync_page(api, user, "0", 1).status == 200
    assert sync_page(api, user, "0", 500).status == 200
    # Without since: from the beginning.
    fresh = api.get("/v1/sync", user)
    assert fresh.status == 200, fresh
    assert fresh.json["events"] == sync_page(api, user, "0").json["events"]


def test_sync_from_a_cursor_this_server_never_issued_is_gone(api):
    user = api.register(parley.unique_name("c"))

    resp = sync_page(api, user, "9223372036854775807")

    assert (resp.status, resp.error_code) == (410, "cursor_invalid"), resp


def test_sync_shows_nothing_of_conversations_the_user_is_not_in(api, mqtt):
    x, y, v = (api.register(parley.unique_name(n)) for n in ("x", "y", "v"))
    private = api.create_conversation(x, [y])["id"]
    shared = api.create_conversation(x, [v])["id"]
    cx, cy = mqtt.connect(x), mqtt.connect(y)
    subscribe_when_allowed(cx, f"conv/{private}/m")
    subscribe_when_allowed(cx, f"conv/{shared}/m")
    subscribe_when_allowed(cy, f"conv/{private}/m")
    secret = cx.send_and_ack(private, "not for v")["id"]
    cy.send_and_ack(private, "nor this")
    assert mark_read(api, y, private, secret).status == 204
    api.call("PATCH", f"/v1/conversations/{private}/members/{y.id}", expect=204,
             token=x, json={"role": "admin"})
    visible = cx.send_and_ack(shared, "for v")["id"]

    events, _, _ = sync_all(api, v)

    assert {ev["conv"] for ev in events} == {shared}, events
    assert event_ids(events) == [visible]
    assert private not in json.dumps(events)
    # Nor does y see v's conversation.
    events_y, _, _ = sync_all(api, y)
    assert {ev["conv"] for ev in events_y} == {private}


def test_removed_member_gets_member_removed_and_no_later_messages(api, mqtt):
    owner, user, other = (api.register(parley.unique_name(n)) for n in ("o", "u", "w"))
    group = api.create_conversation(owner, [user, other])["id"]
    direct = api.create_conversation(owner, [user], kind="direct")["id"]
    co, cw = mqtt.connect(owner), mqtt.connect(other)
    for conv in (group, direct):
        subscribe_when_allowed(co, f"conv/{conv}/event")
    subscribe_when_allowed(cw, f"conv/{group}/event")
    before = co.send_and_ack(group, "before the removal")["id"]
    synced, cursor, _ = sync_all(api, user)
    assert before in event_ids(synced)

    api.call("DELETE", f"/v1/conversations/{group}/members/{user.id}", expect=204, token=owner)
    after = co.send_and_ack(group, "after the removal")["id"]
    assert mark_read(api, other, group, after).status == 204
    api.call("PATCH", f"/v1/conversations/{group}/members/{other.id}", expect=204,
             token=owner, json={"role": "admin"})
    elsewhere = co.send_and_ack(direct, "still talking here")["id"]

    events, _, _ = sync_all(api, user, cursor)

    in_group = [ev for ev in events if ev["conv"] == group]
    assert [(ev["type"], ev.get("user")) for ev in in_group] == [
        ("member_removed", user.id)], in_group
    assert event_ids(events) == [elsewhere]
    full, _, _ = sync_all(api, user)
    assert after not in event_ids(full)
    assert [ev.get("user") for ev in full
            if ev["conv"] == group and ev["type"] == "member_removed"] == [user.id]
    assert not [ev for ev in full if ev["conv"] == group and ev["type"] == "receipt"]
    assert api.get(f"/v1/conversations/{group}/messages", user).status == 404


# ------------------------------------------------------------------ mute


def is_muted(conv_object):
    """openapi.yaml: `muted` says whether the caller mutes it now;
    `muted_until` when that ends (null when never)."""
    muted = conv_object["muted"]
    assert isinstance(muted, bool), conv_object
    assert muted or conv_object["muted_until"] is None, conv_object
    return muted


def test_mute_and_unmute_show_in_the_conversation_of_that_member_only(api):
    a, b = api.register(parley.unique_name("a")), api.register(parley.unique_name("b"))
    conv = api.create_conversation(a, [b])["id"]
    stranger = api.register(parley.unique_name("s"))
    assert not is_muted(conversation(api, b, conv))

    assert api.put(f"/v1/conversations/{conv}/mute", b).status == 204

    assert is_muted(conversation(api, b, conv))
    assert conversation(api, b, conv)["muted_until"] is None  # for ever
    assert is_muted(listed_conversation(api, b, conv))
    assert not is_muted(conversation(api, a, conv))
    assert api.put(f"/v1/conversations/{conv}/mute", stranger).status == 404
    assert api.delete(f"/v1/conversations/{conv}/mute", stranger).status == 404
    assert api.delete(f"/v1/conversations/{conv}/mute", b).status == 204
    assert not is_muted(conversation(api, b, conv))
    assert not is_muted(listed_conversation(api, b, conv))

    # Until a time: muted_until names it.
    until = now_ms() + 3600 * 1000
    assert api.put(f"/v1/conversations/{conv}/mute", b, json={"until": until}).status == 204
    assert is_muted(conversation(api, b, conv))
    shown = conversation(api, b, conv)["muted_until"]
    assert isinstance(shown, str) and shown.startswith(
        time.strftime("%Y-%m-%dT%H:", time.gmtime(until / 1000))), shown
    assert conversation(api, a, conv)["muted_until"] is None
    assert api.delete(f"/v1/conversations/{conv}/mute", b).status == 204
    assert conversation(api, b, conv)["muted_until"] is None
    assert not is_muted(conversation(api, b, conv))
    # A time in the past mutes nothing; a malformed one is refused.
    assert api.put(f"/v1/conversations/{conv}/mute", b,
                   json={"until": now_ms() - 1000}).status == 204
    assert not is_muted(conversation(api, b, conv))
    for until in ("tomorrow", -1, 1.5, True):
        resp = api.put(f"/v1/conversations/{conv}/mute", b, json={"until": until})
        assert resp.status == 400, (until, resp)
    assert not is_muted(conversation(api, b, conv))


# ------------------------------------------------------------------ PATCH /v1/me


def me(api, user):
    return api.call("GET", "/v1/me", expect=200, token=user)


def test_display_name_change_shows_in_me_and_to_others(api):
    user, other = api.register(parley.unique_name("n")), api.register(parley.unique_name("o"))
    name = "Ren\u00e9e \u2014 " + secrets.token_hex(3)

    resp = api.patch("/v1/me", user, json={"display_name": name})

    assert resp.status == 200, resp
    assert resp.json["display_name"] == name
    assert resp.json["id"] == user.id
    assert me(api, user)["display_name"] == name
    assert me(api, user)["username"] == user.username
    assert api.call("GET", f"/v1/users/{user.id}", token=other)["display_name"] == name


PATCH_ME_REFUSED = [
    ("unknown_field", {"nickname": "x"}),
    ("unknown_with_a_valid_one", {"display_name": "Valid Name", "colour": "blue"}),
    ("username", {"username": "someone_else"}),
    ("role", {"role": "admin"}),
    ("empty_name", {"display_name": ""}),
    ("blank_name", {"display_name": "   "}),
    ("control_in_name", {"display_name": "a\nb"}),
    ("long_name", {"display_name": "x" * 65}),
    ("name_not_a_string", {"display_name": 5}),
    ("null_name", {"display_name": None}),
    ("presence_not_a_boolean", {"presence_hidden": "yes"}),
    ("presence_null", {"presence_hidden": None}),
    ("password_without_current", {"password": "a-brand-new-password"}),
    ("current_without_password", {"current_password": "whatever-it-is"}),
]


@pytest.mark.parametrize("body", [c[1] for c in PATCH_ME_REFUSED],
                         ids=[c[0] for c in PATCH_ME_REFUSED])
def test_patch_me_refuses_unknown_or_invalid_fields_and_changes_nothing(api, body):
    user = api.register(parley.unique_name("p"))
    before = me(api, user)

    resp = api.patch("/v1/me", user, json=body)

    assert resp.status == 400, resp
    assert me(api, user) == before
    assert me(api, api.login(user.username, user.password))["id"] == user.id


def test_patch_me_with_nothing_changes_nothing(api):
    user = api.register(parley.unique_name("p"))
    before = me(api, user)

    resp = api.patch("/v1/me", user, json={})

    assert resp.status == 200, resp
    assert resp.json == before == me(api, user)


def test_hidden_presence_is_cleared_for_contacts_and_shown_again_when_unhidden(api, mqtt):
    room = open_room(api, mqtt, {"u": [], "c": ["d1"]})
    U = room.users["u"]
    topic = f"user/{U.id}/presence"
    c = room.client("c")
    subscribe_when_allowed(c, topic)
    room.connect("u", "phone", subscribe=False)
    c.wait_message(topic, {"state": "online"})

    resp = api.patch("/v1/me", U, json={"presence_hidden": True})

    assert resp.status == 200, resp
    assert resp.json["presence_hidden"] is True
    assert me(api, U)["presence_hidden"] is True
    # The retained presence is cleared (an empty retained message), or at
    # least no longer says online.
    c.wait_message(topic, lambda m: m.payload == b"" or (m.json or {}).get("state") == "offline")
    late = room.connect("c", "late")
    late.subscribe(topic)
    # Barrier: a retained presence would reach late before its own message.
    barrier = late.send_and_ack(room.conv, "after subscribing")["id"]
    late.wait_message(room.topic("m"), {"id": barrier})
    assert late.messages(topic, {"state": "online"}) == [], late.messages(topic)

    assert api.patch("/v1/me", U, json={"presence_hidden": False}).status == 200
    c.wait_messages(topic, count=2, match={"state": "online"})
    assert me(api, U)["presence_hidden"] is False


def test_wrong_current_password_changes_nothing(api, mqtt):
    user = api.register(parley.unique_name("w"))
    device = mqtt.connect(user)

    wrong = api.patch("/v1/me", user, json={"current_password": "not-the-password",
                                            "password": "a-brand-new-password"})
    short = api.patch("/v1/me", user, json={"current_password": user.password,
                                            "password": "short"})

    assert (wrong.status, wrong.error_code) == (403, "wrong_password"), wrong
    assert short.status == 400, short
    assert me(api, user)["id"] == user.id  # the token still works
    assert api.post("/v1/auth/login", json={"username": user.username,
                                            "password": "a-brand-new-password"}).status == 401
    api.login(user.username, user.password)
    assert api.refresh(user.refresh_token)["access_token"]
    # Still connected: the broker answers it.
    assert device.subscribe(device.inbox_topic)[0] in (0, 1)
    assert device.connected


def test_password_change_revokes_tokens_disconnects_devices_and_the_new_one_works(api, mqtt):
    old_password, new_password = "old-" + secrets.token_hex(8), "new-" + secrets.token_hex(8)
    user = api.register(parley.unique_name("pw"), password=old_password)
    bystander = api.register(parley.unique_name("by"))
    phone = mqtt.connect(user, device="phone")
    desktop = mqtt.connect(user, device="desktop", transport="websockets")
    watcher = mqtt.connect(bystander)

    resp = api.patch("/v1/me", user, json={"current_password": old_password,
                                           "password": new_password})

    assert resp.status == 200, resp
    assert api.get("/v1/me", user).status == 401  # the old access token
    phone.wait_disconnected()
    desktop.wait_disconnected()
    assert mqtt.refused(user, device="phone") in CONNACK_REFUSED
    assert api.post("/v1/auth/refresh",
                    json={"refresh_token": user.refresh_token}).status == 401
    assert api.post("/v1/auth/login", json={"username": user.username,
                                            "password": old_password}).status == 401
    fresh = api.login(user.username, new_password)
    assert me(api, fresh)["id"] == user.id
    mqtt.connect(fresh, device="phone").disconnect()
    # Nobody else was touched.
    assert watcher.connected
    assert watcher.subscribe(watcher.inbox_topic)[0] in (0, 1)
