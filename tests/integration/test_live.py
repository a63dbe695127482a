"""test_live.py - the live messenger behaviour of the broker plugin: typing
notices, read/delivered receipts, several devices per user, presence, token
lifetime, the per-user rate limit and revocation.

Per DESIGN.md ("Topics", "Payloads", "Identity and tokens"),
docs/PROTOCOL.md and docs/ARCHITECTURE.md ("Events from parley-api to the
brokers").  Tests that need other plugin settings (a short presence grace,
no token leeway, a small message bucket) share one private stack started
for this module (`tuned_stack`, see live_support.TUNED_PLUGIN_OPTS).

Negative checks use a barrier (something that must arrive after what must
not) wherever the protocol gives one; the few that wait out a documented
window (the typing window, the presence grace) say so.
"""

import collections
import secrets
import time

import pytest

import parley
from live_support import (
    CONNACK_REFUSED,
    PUBACK_NOT_AUTHORIZED,
    SUBACK_REFUSED,
    TUNED_GRACE_MS,
    TUNED_PLUGIN_OPTS,
    TUNED_RATE_BURST,
    TUNED_RATE_PER_S,
    assert_stays_false,
    flood,
    id_at,
    inbox_errors,
    last_seen_ms,
    message_rows,
    mint_token,
    now_ms,
    open_room,
    private_stack,
    receipt_row,
    receipt_rows,
    received_json,
    stack_jwt_secret,
    subscribe_when_allowed,
    wait_outcomes,
)
from parley import jwt_claims, wait_for

TYPING_WINDOW_S = 2.0  # one typing notice per user and conversation every 2 s
GRACE_S = TUNED_GRACE_MS / 1000.0
# A short-lived token: long enough to connect on a loaded machine (the tuned
# stack allows no leeway), short enough to keep the expiry tests quick.
TOKEN_LIFETIME_S = 6
DEFAULT_RATE_PER_S = 20
DEFAULT_RATE_BURST = 500
RECEIPT_FIELDS = {"type", "up_to", "conv", "from", "ts"}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tuned_stack(request):
    """A private stack with a 1.5 s presence grace, no token leeway and a
    bucket of 20 messages refilled at 5/s; stopped after the module."""
    yield from private_stack(request, TUNED_PLUGIN_OPTS)


@pytest.fixture(scope="module")
def tuned_api(tuned_stack):
    return tuned_stack.api()


@pytest.fixture
def tuned_mqtt(tuned_stack):
    m = tuned_stack.mqtt()
    yield m
    m.close_all()


def two_members(api, mqtt):
    """a and b in a group conversation, one connected device each."""
    return open_room(api, mqtt, {"a": ["d1"], "b": ["d1"]})


def sender_and_two_device_reader(api, mqtt):
    """a (one device) and b with a phone and a desktop."""
    return open_room(api, mqtt, {"a": ["d1"], "b": ["phone", "desktop"]})


def assert_is_ms_timestamp(value):
    assert isinstance(value, int) and not isinstance(value, bool), value
    # A sanity window on the server's clock (same host), not a speed check.
    assert abs(value - now_ms()) < 3600 * 1000, value


# ------------------------------------------------------------------ typing


@pytest.mark.parametrize("state", ["typing", "paused"])
def test_typing_notice_reaches_the_other_member_with_the_senders_id(api, mqtt, state):
    room = two_members(api, mqtt)
    typing = room.topic("typing")

    room.client("a").publish(typing, {"state": state}, qos=0)

    got = room.client("b").wait_message(typing)
    assert got.json == {"state": state, "from": room.users["a"].id}


def test_typing_notice_carries_the_servers_from_and_nothing_else(api, mqtt):
    room = two_members(api, mqtt)
    typing = room.topic("typing")

    room.client("a").publish(typing, {"state": "typing", "from": room.users["b"].id,
                                      "ts": 1, "body": "smuggled"}, qos=0)

    got = room.client("b").wait_message(typing)
    assert got.json == {"state": "typing", "from": room.users["a"].id}


def test_typing_flood_is_forwarded_once_per_two_seconds(api, mqtt):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    typing = room.topic("typing")
    notice = {"state": "typing", "from": room.users["a"].id}

    started = time.monotonic()
    for info in flood(a, typing, [{"state": "typing"}] * 20, qos=0):
        info.wait_for_publish(timeout=10)
    # Barrier: a's chat message is handled after every notice before it.
    barrier = room.send("a", "after the flood")
    b.wait_message(room.topic("m"), {"id": barrier})
    handled_within = time.monotonic() - started
    time.sleep(1.0)  # stragglers, if any, would arrive now

    forwarded = received_json(b, typing)
    # The bucket was fresh: the first notice passes, then one per 2 s window
    # that the server's handling of the flood may have spanned.
    allowed = 1 + int(handled_within // TYPING_WINDOW_S)
    assert 1 <= len(forwarded) <= allowed, (len(forwarded), handled_within, forwarded)
    assert all(n == notice for n in forwarded), forwarded

    # Once the window has passed, the next notice goes through again.
    time.sleep(max(0.0, started + handled_within + TYPING_WINDOW_S + 0.5 - time.monotonic()))
    a.publish(typing, {"state": "typing"}, qos=0)
    b.wait_messages(typing, count=len(forwarded) + 1)


def test_typing_allowance_is_per_user_and_conversation(api, mqtt):
    room = two_members(api, mqtt)
    other = api.create_conversation(room.users["a"], [room.users["b"]])["id"]
    a, b = room.client("a"), room.client("b")
    subscribe_when_allowed(b, f"conv/{other}/typing")
    subscribe_when_allowed(a, f"conv/{other}/typing")

    a.publish(room.topic("typing"), {"state": "typing"}, qos=0)
    b.wait_message(room.topic("typing"))
    # Right after: a in another conversation, and b in the same one.
    a.publish(f"conv/{other}/typing", {"state": "typing"}, qos=0)
    b.publish(room.topic("typing"), {"state": "typing"}, qos=0)

    assert b.wait_message(f"conv/{other}/typing").json == {
        "state": "typing", "from": room.users["a"].id}
    assert a.wait_message(room.topic("typing"), {"from": room.users["b"].id})


INVALID_TYPING = [
    {"state": "dancing"},
    {"state": "TYPING"},
    {"state": 1},
    {"state": None},
    {"typing": True},
    [{"state": "typing"}],
    "typing",
    b"typing",
    b'{"state":"typing"',
    b'{"state":"typing","note":"\xff"}',
    b'{"state":"typing","state":"paused"}',
    {"state": "typing", "pad": "x" * 2000},
]


def test_invalid_typing_notices_are_not_delivered(api, mqtt):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    typing = room.topic("typing")

    for payload in INVALID_TYPING:
        a.publish(typing, payload, qos=0)
    # A valid notice after them: it must be the first thing b sees, and it
    # shows the invalid ones did not use up a's typing allowance either.
    a.publish(typing, {"state": "paused"}, qos=0)
    first = b.wait_message(typing)
    assert first.json == {"state": "paused", "from": room.users["a"].id}, first

    barrier = room.send("a", "after the typing notices")
    b.wait_message(room.topic("m"), {"id": barrier})
    assert [m.payload for m in b.messages(typing)] == [first.payload]


def test_typing_notices_are_never_stored(api, mqtt, stack):
    room = two_members(api, mqtt)
    typing = room.topic("typing")

    room.client("a").publish(typing, {"state": "typing"}, qos=0)
    room.client("b").wait_message(typing)
    room.client("b").publish(typing, {"state": "paused"}, qos=0)
    room.client("a").wait_message(typing)
    # An ack means "committed"; anything queued before it is stored by then.
    barrier = room.send("a", "only this is stored")

    assert [row[2] for row in message_rows(stack, room.conv)] == [barrier]
    assert receipt_rows(stack, room.conv) == {}


# ------------------------------------------------------------------ receipts


def test_read_receipt_reaches_the_sender_and_the_readers_other_device(api, mqtt, stack):
    room = sender_and_two_device_reader(api, mqtt)
    a, phone, desktop = room.client("a"), room.client("b", "phone"), room.client("b", "desktop")
    receipt = room.topic("receipt")
    msg = room.send("a", "read me")

    # Client-sent from, conv and ts are not passed on.
    phone.publish(receipt, {"type": "read", "up_to": msg, "from": room.users["a"].id,
                            "conv": "elsewhere", "ts": 1})

    want = {"type": "read", "up_to": msg, "conv": room.conv, "from": room.users["b"].id}
    to_sender = a.wait_message(receipt, want).json
    to_desktop = desktop.wait_message(receipt, want).json
    assert set(to_sender) == RECEIPT_FIELDS, to_sender
    assert_is_ms_timestamp(to_sender["ts"])
    assert to_desktop == to_sender


def test_read_receipt_is_stored_as_the_readers_pointer(api, mqtt, stack):
    room = two_members(api, mqtt)
    msg = room.send("a", "read me")

    room.client("b").publish(room.topic("receipt"), {"type": "read", "up_to": msg})
    fanned_out = room.client("a").wait_message(room.topic("receipt"), {"up_to": msg}).json

    # The fan-out follows the commit.
    up_to, ts_ms, seq = receipt_row(stack, room.conv, room.users["b"].id, "read")
    assert up_to == msg
    assert abs(int(ts_ms) - fanned_out["ts"]) <= 1
    assert int(seq) > 0
    assert receipt_rows(stack, room.conv) == {(room.users["b"].id, "read"): msg}


def test_backward_or_repeated_receipt_changes_nothing_and_is_not_delivered(api, mqtt, stack):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    receipt = room.topic("receipt")
    older, newer = room.send("a", "one"), room.send("a", "two")
    b.publish(receipt, {"type": "read", "up_to": newer})
    a.wait_message(receipt, {"type": "read", "up_to": newer})
    stored = receipt_row(stack, room.conv, room.users["b"].id, "read")

    b.publish(receipt, {"type": "read", "up_to": older})  # backward
    b.publish(receipt, {"type": "read", "up_to": newer})  # not forward either
    # Barrier: the other pointer moves forward, and is fanned out after them
    # (to each client on its own connection, so each waits for it).
    b.publish(receipt, {"type": "delivered", "up_to": newer})
    a.wait_message(receipt, {"type": "delivered", "up_to": newer})
    b.wait_message(receipt, {"type": "delivered", "up_to": newer})

    assert [r["up_to"] for r in received_json(a, receipt, {"type": "read"})] == [newer]
    assert [r["up_to"] for r in received_json(b, receipt, {"type": "read"})] == [newer]
    assert receipt_row(stack, room.conv, room.users["b"].id, "read") == stored


def test_delivered_and_read_pointers_move_independently(api, mqtt, stack):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    receipt = room.topic("receipt")
    m1, m2, m3 = (room.send("a", body) for body in ("one", "two", "three"))

    b.publish(receipt, {"type": "delivered", "up_to": m3})
    a.wait_message(receipt, {"type": "delivered", "up_to": m3})
    # read is its own pointer: it starts below delivered and moves on its own
    b.publish(receipt, {"type": "read", "up_to": m1})
    a.wait_message(receipt, {"type": "read", "up_to": m1})
    b.publish(receipt, {"type": "read", "up_to": m2})
    a.wait_message(receipt, {"type": "read", "up_to": m2})
    # delivered going back is refused even though it is above read
    b.publish(receipt, {"type": "delivered", "up_to": m2})
    b.publish(receipt, {"type": "read", "up_to": m3})  # barrier
    a.wait_message(receipt, {"type": "read", "up_to": m3})

    assert [r["up_to"] for r in received_json(a, receipt, {"type": "delivered"})] == [m3]
    assert [r["up_to"] for r in received_json(a, receipt, {"type": "read"})] == [m1, m2, m3]
    b_id = room.users["b"].id
    assert receipt_rows(stack, room.conv) == {(b_id, "delivered"): m3, (b_id, "read"): m3}


INVALID_RECEIPTS = [
    # (id, payload or function of a valid message id, acceptable codes)
    ("unknown_type", lambda m: {"type": "seen", "up_to": m}, {"invalid_receipt"}),
    ("no_type", lambda m: {"up_to": m}, {"invalid_receipt"}),
    ("type_not_a_string", lambda m: {"type": ["read"], "up_to": m}, {"invalid_receipt"}),
    ("no_up_to", {"type": "read"}, {"invalid_receipt"}),
    ("up_to_not_an_id", {"type": "read", "up_to": "latest"}, {"invalid_receipt"}),
    ("up_to_a_number", lambda m: {"type": "read", "up_to": int(m)}, {"invalid_receipt"}),
    ("up_to_negative", {"type": "read", "up_to": "-1"}, {"invalid_receipt"}),
    ("up_to_empty", {"type": "delivered", "up_to": ""}, {"invalid_receipt"}),
    ("up_to_ten_minutes_ahead", lambda m: {"type": "read", "up_to": id_at(now_ms() + 600_000)},
     {"invalid_receipt"}),
    ("up_to_over_64_bits", {"type": "read", "up_to": "18446744073709551616"},
     {"invalid_receipt"}),
    # Not a JSON object: PROTOCOL.md's codes for that, or invalid_receipt.
    ("array", lambda m: [{"type": "read", "up_to": m}], {"invalid_receipt", "invalid_payload"}),
    ("json_string", '"read"', {"invalid_receipt", "invalid_payload"}),
    ("not_json", b"read up to here", {"invalid_receipt", "invalid_json"}),
    ("invalid_utf8", b'{"type":"read","up_to":"1","x":"\xc3"}',
     {"invalid_receipt", "invalid_utf8"}),
]


@pytest.mark.parametrize("payload, codes", [c[1:] for c in INVALID_RECEIPTS],
                         ids=[c[0] for c in INVALID_RECEIPTS])
def test_invalid_receipt_is_refused_with_an_error_and_not_delivered(api, mqtt, stack,
                                                                    payload, codes):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    receipt = room.topic("receipt")
    msg = room.send("a", "hi")

    b.publish(receipt, payload(msg) if callable(payload) else payload)
    error = b.wait_message(b.inbox_topic, {"type": "error"}).json
    assert error["code"] in codes, error
    assert isinstance(error.get("detail"), str), error

    b.publish(receipt, {"type": "read", "up_to": msg})  # barrier
    a.wait_message(receipt, {"type": "read", "up_to": msg})
    assert received_json(a, receipt) == received_json(a, receipt, {"up_to": msg})
    assert len(received_json(a, receipt)) == 1
    assert len(inbox_errors(b)) == 1
    assert receipt_rows(stack, room.conv) == {(room.users["b"].id, "read"): msg}


def test_non_member_can_neither_publish_nor_subscribe_receipts(api, mqtt, stack):
    room = two_members(api, mqtt)
    a, b = room.client("a"), room.client("b")
    receipt = room.topic("receipt")
    msg = room.send("a", "members only")
    stranger = mqtt.connect(api.register(parley.unique_name("d")), protocol=parley.MQTTv5)

    assert stranger.subscribe(receipt)[0] >= SUBACK_REFUSED
    assert stranger.publish(receipt, {"type": "read", "up_to": msg}) == PUBACK_NOT_AUTHORIZED

    b.publish(receipt, {"type": "read", "up_to": msg})  # barrier
    a.wait_message(receipt, {"type": "read", "up_to": msg})
    assert [r["from"] for r in received_json(a, receipt)] == [room.users["b"].id]
    assert receipt_rows(stack, room.conv) == {(room.users["b"].id, "read"): msg}


# ------------------------------------------------------------------ several devices


def test_devices_of_one_user_connect_side_by_side(api, mqtt):
    room = sender_and_two_device_reader(api, mqtt)
    b_id = room.users["b"].id
    phone, desktop = room.client("b", "phone"), room.client("b", "desktop")

    assert (phone.client_id, desktop.client_id) == (f"{b_id}:phone", f"{b_id}:desktop")
    # The phone, connected first, was not taken over: it still gets answers.
    assert phone.subscribe(f"user/{b_id}/inbox")[0] in (0, 1)
    assert phone.connected and desktop.connected


def test_message_reaches_every_device_of_the_recipient(api, mqtt):
    room = sender_and_two_device_reader(api, mqtt)

    msg = room.send("a", "to all your devices")

    for device in ("phone", "desktop"):
        got = room.client("b", device).wait_message(room.topic("m"), {"id": msg}).json
        assert (got["from"], got["body"]) == (room.users["a"].id, "to all your devices")


def test_read_receipt_from_the_phone_reaches_the_same_users_desktop(api, mqtt):
    room = sender_and_two_device_reader(api, mqtt)
    msg = room.send("a", "read on the phone")

    room.client("b", "phone").publish(room.topic("receipt"), {"type": "read", "up_to": msg})

    got = room.client("b", "desktop").wait_message(room.topic("receipt"), {"up_to": msg}).json
    assert (got["type"], got["from"], got["conv"]) == ("read", room.users["b"].id, room.conv)


def test_ack_for_a_message_sent_from_the_phone_reaches_both_devices(api, mqtt):
    room = sender_and_two_device_reader(api, mqtt)
    phone, desktop = room.client("b", "phone"), room.client("b", "desktop")

    txn = phone.send(room.conv, "sent from my phone")

    on_phone, on_desktop = phone.wait_ack(txn), desktop.wait_ack(txn)
    assert on_phone == on_desktop
    assert on_phone["conv"] == room.conv
    # The desktop also shows the message itself, like the other member.
    for client in (desktop, room.client("a")):
        got = client.wait_message(room.topic("m"), {"txn": txn}).json
        assert (got["id"], got["from"]) == (on_phone["id"], room.users["b"].id)


# ------------------------------------------------------------------ presence


def presence_topic(user):
    return f"user/{user.id}/presence"


def watching_presence(api, mqtt):
    """A room of a and c, with c subscribed to a's presence:
    (room, a's presence topic, c's client)."""
    room = open_room(api, mqtt, {"a": [], "c": ["d1"]})
    topic = presence_topic(room.users["a"])
    c = room.client("c")
    subscribe_when_allowed(c, topic)
    return room, topic, c


def test_presence_may_be_watched_by_contacts_but_not_by_strangers(api, mqtt):
    room = open_room(api, mqtt, {"a": [], "c": ["d1"]})
    a = room.users["a"]
    stranger = mqtt.connect(api.register(parley.unique_name("d")))

    assert subscribe_when_allowed(room.client("c"), presence_topic(a)) in (0, 1)
    assert stranger.subscribe(presence_topic(a))[0] == SUBACK_REFUSED
    assert stranger.subscribe(f"user/{a.id}/#")[0] == SUBACK_REFUSED
    assert stranger.subscribe(f"user/{a.id}/+")[0] == SUBACK_REFUSED
    own = room.connect("a", subscribe=False)
    assert own.subscribe(presence_topic(a))[0] in (0, 1)


def test_contact_sees_a_user_come_online_and_late_subscribers_get_it_retained(api, mqtt):
    room = open_room(api, mqtt, {"a": [], "c": ["d1"]})
    topic = presence_topic(room.users["a"])
    c = room.client("c")
    subscribe_when_allowed(c, topic)

    room.connect("a", "phone", subscribe=False)

    assert c.wait_message(topic).json == {"state": "online"}
    late = room.connect("c", "desktop", subscribe=False)
    assert late.subscribe(topic)[0] in (0, 1)
    retained = late.wait_message(topic)
    assert retained.json == {"state": "online"}
    assert retained.retain


def test_former_contact_stops_receiving_presence_on_an_existing_subscription(api, mqtt):
    room = open_room(api, mqtt, {"a": [], "c": ["d1"], "e": ["d1"]})
    a, c_id = room.users["a"], room.users["c"].id
    topic = presence_topic(a)
    c, e = room.client("c"), room.client("e")
    subscribe_when_allowed(c, topic)
    subscribe_when_allowed(e, topic)

    api.call("DELETE", f"/v1/conversations/{room.conv}/members/{c_id}", token=a)
    # The broker tells the removed member once its cache has the change.
    c.wait_message(c.inbox_topic, {"type": "member_removed", "user": c_id})
    room.connect("a", subscribe=False)

    e.wait_message(topic, {"state": "online"})  # barrier
    assert c.messages(topic) == []


def test_offline_is_announced_after_the_grace_with_last_seen_and_stored(
        tuned_stack, tuned_api, tuned_mqtt):
    room = open_room(tuned_api, tuned_mqtt, {"a": [], "c": ["d1"]})
    a_id = room.users["a"].id
    topic = presence_topic(room.users["a"])
    c = room.client("c")
    subscribe_when_allowed(c, topic)
    device = room.connect("a", subscribe=False)
    c.wait_message(topic, {"state": "online"})
    assert last_seen_ms(tuned_stack, a_id) is None

    left_from = now_ms()
    device.disconnect()

    offline = c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 20).json
    seen_at = now_ms()
    assert set(offline) == {"state", "last_seen"}, offline
    assert_is_ms_timestamp(offline["last_seen"])
    # last_seen is when the device left (same host's clock): not before the
    # disconnect, and not when the grace ran out either, since the
    # announcement came at least the grace after it (seen_at is after the
    # arrival).  No upper bound from the client's side: a loaded broker may
    # notice the disconnect a while after the client sent it.
    assert offline["last_seen"] >= left_from - 1000, (left_from, offline)
    assert seen_at - offline["last_seen"] >= TUNED_GRACE_MS - 20, (seen_at, offline)

    stored = wait_for(lambda: last_seen_ms(tuned_stack, a_id), what="users.last_seen")
    assert abs(stored - offline["last_seen"]) <= 1, (stored, offline)

    late = room.connect("c", "late", subscribe=False)
    late.subscribe(topic)
    retained = late.wait_message(topic)
    assert retained.retain
    assert retained.json == offline


def test_user_stays_online_while_another_device_is_connected(tuned_api, tuned_mqtt):
    room, topic, c = watching_presence(tuned_api, tuned_mqtt)
    phone = room.connect("a", "phone", subscribe=False)
    c.wait_message(topic, {"state": "online"})
    desktop = room.connect("a", "desktop", subscribe=False)

    desktop.disconnect()

    # The documented window: nothing may be announced within grace + 1 s.
    assert_stays_false(lambda: c.messages(topic, {"state": "offline"}), GRACE_S + 1.0,
                       "an offline announcement while the phone is connected")
    assert len(c.messages(topic)) == 1, c.messages(topic)  # one online, no flapping
    phone.disconnect()
    c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 10)


def test_reconnect_within_the_grace_announces_nothing(tuned_api, tuned_mqtt):
    # The premise is a reconnect well within the grace.  A machine that
    # stalls for most of the grace between the disconnect and the CONNACK
    # breaks it (the offline may then rightly be announced), so the
    # scenario is tried again with fresh users; the client's gap bounds
    # the broker's (its disconnect comes after `started`, its CONNACK
    # before the gap is measured).
    gaps = []
    for _ in range(5):
        room, topic, c = watching_presence(tuned_api, tuned_mqtt)
        first = room.connect("a", "phone", subscribe=False)
        c.wait_message(topic, {"state": "online"})

        started = time.monotonic()
        first.disconnect()
        # Away for a third of the grace: longer than the broker's scans for
        # expired graces (250 ms), so only the grace itself keeps this quiet.
        time.sleep(GRACE_S / 3)
        again = room.connect("a", "phone", subscribe=False)
        gaps.append(time.monotonic() - started)
        if gaps[-1] < GRACE_S * 0.8:
            break
        tuned_mqtt.close_all()
    else:
        pytest.skip(f"every reconnect took too long for the {GRACE_S} s grace: {gaps}")

    assert_stays_false(lambda: c.messages(topic, {"state": "offline"}), GRACE_S + 1.0,
                       "an offline announcement after a quick reconnect")
    assert len(c.messages(topic)) == 1, c.messages(topic)  # no second online
    again.disconnect()
    c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 10)


def test_device_taking_over_its_own_client_id_still_goes_offline_in_the_end(
        tuned_api, tuned_mqtt):
    """A phone that reconnects while its old connection is still open (MQTT
    takes the old one over) counts once: when it leaves, the user goes
    offline."""
    room, topic, c = watching_presence(tuned_api, tuned_mqtt)
    old = room.connect("a", "phone", subscribe=False)
    c.wait_message(topic, {"state": "online"})

    new = room.connect("a", "phone", subscribe=False)
    old.wait_disconnected()
    new.disconnect()

    c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 10)
    assert len(c.messages(topic, {"state": "online"})) == 1


def connect_short_lived(stack, mqtt, account, attempts=3, **kw):
    """Connects account's device "short" with a freshly minted token that
    expires TOKEN_LIFETIME_S from now; returns (client, token, exp).  A
    refusal that came only once the token had (nearly) expired means the
    machine stalled for the whole lifetime before the CONNECT was handled:
    that is tried again with a new token; any other refusal fails."""
    for attempt in range(attempts):
        exp = int(time.time()) + TOKEN_LIFETIME_S
        token = mint_token(stack_jwt_secret(stack), account.id, exp)
        try:
            return mqtt.connect(account, token=token, device="short", **kw), token, exp
        except parley.MqttRefused:
            if time.time() < exp - 1 or attempt == attempts - 1:
                raise


def test_user_whose_only_connection_is_closed_by_the_broker_goes_offline(
        tuned_stack, tuned_api, tuned_mqtt):
    room = open_room(tuned_api, tuned_mqtt, {"a": [], "c": ["d1"]})
    a = room.users["a"]
    topic = presence_topic(a)
    c = room.client("c")
    subscribe_when_allowed(c, topic)
    device, token, exp = connect_short_lived(tuned_stack, tuned_mqtt, a)
    c.wait_message(topic, {"state": "online"})

    device.wait_disconnected(timeout=exp - time.time() + 15)  # its token expired

    c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 10)


def test_clients_cannot_publish_presence_not_even_their_own(tuned_api, tuned_mqtt):
    room, topic, c = watching_presence(tuned_api, tuned_mqtt)
    a = room.connect("a", subscribe=False, protocol=parley.MQTTv5)
    c.wait_message(topic, {"state": "online"})

    for retain in (False, True):
        assert a.publish(topic, {"state": "offline", "last_seen": 1},
                         retain=retain) == PUBACK_NOT_AUTHORIZED
    a.disconnect()

    c.wait_message(topic, {"state": "offline"}, timeout=GRACE_S + 10)  # barrier
    states = [m["state"] for m in received_json(c, topic)]
    assert states == ["online", "offline"], received_json(c, topic)
    assert received_json(c, topic)[1]["last_seen"] != 1


# ------------------------------------------------------------------ token lifetime


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_connection_is_closed_when_its_token_expires(tuned_stack, tuned_api, tuned_mqtt,
                                                     transport):
    room = open_room(tuned_api, tuned_mqtt, {"a": [], "b": ["d1"]})
    a = room.users["a"]
    short, token, exp = connect_short_lived(tuned_stack, tuned_mqtt, a, transport=transport)
    lasting = room.connect("a", "lasting")  # the API's 15-minute token

    rc = short.wait_disconnected(timeout=exp - time.time() + 15)
    closed_at = time.time()

    assert rc != 0, "the client did not close the connection itself"
    assert closed_at > exp - 1, "closed before its token expired"
    # Only the expired connection goes.
    assert lasting.connected
    room.send("a", "still here", device="lasting")
    # And the token no longer connects.
    assert tuned_mqtt.refused(a, token=token, device="short",
                              transport=transport) in CONNACK_REFUSED


def test_expired_token_is_refused_at_connect(tuned_stack, tuned_api, tuned_mqtt):
    a = tuned_api.register(parley.unique_name("a"))
    secret = stack_jwt_secret(tuned_stack)
    now = int(time.time())

    expired = mint_token(secret, a.id, now - 2, iat=now - 60)
    assert tuned_mqtt.refused(a, token=expired) in CONNACK_REFUSED
    # The same claims with a future exp connect (the minting is right).
    tuned_mqtt.connect(a, token=mint_token(secret, a.id, now + 60, iat=now - 60)).disconnect()


# ------------------------------------------------------------------ rate limit


def flood_messages(room, count, convs=None):
    """a publishes count QoS 1 messages as fast as it can (round robin over
    convs, default the room's conversation); waits until each has an
    outcome on a's inbox.  Returns (txns, outcomes, seconds from the first
    publish to the last outcome)."""
    a = room.client("a")
    convs = convs or [room.conv]
    tag = secrets.token_hex(4)
    txns = [f"flood{tag}{i:05d}" for i in range(count)]

    started = time.monotonic()
    a.paho.max_inflight_messages_set(0)  # no client-side window
    infos = [a.publish(f"conv/{convs[i % len(convs)]}/m",
                       {"txn": t, "type": "text", "body": f"flood {i}"}, qos=1, wait=False)
             for i, t in enumerate(txns)]

    outcomes = wait_outcomes(a, txns, timeout=120)
    elapsed = time.monotonic() - started
    for info in infos:
        info.wait_for_publish(timeout=30)  # every PUBACK came back
    return txns, outcomes, elapsed


def check_flood_accounting(stack, room, txns, outcomes, elapsed, burst, rate_per_s,
                           convs=None):
    """Every message was either acked or refused as rate_limited, never
    both; the acked ones are stored once each, the refused ones not at all.
    Returns (acked {txn: id}, refused txns)."""
    convs = convs or [room.conv]
    acked, refused = {}, set()
    for txn in txns:
        kinds = [kind for kind, _ in outcomes[txn]]
        assert kinds in (["ack"], ["error"]), (txn, outcomes[txn])
        kind, item = outcomes[txn][0]
        if kind == "ack":
            assert item["conv"] in convs, item
            acked[txn] = item["id"]
        else:
            assert item["code"] == "rate_limited", item
            refused.add(txn)
    assert len(acked) + len(refused) == len(txns)
    assert refused, f"none of {len(txns)} messages was refused in {elapsed:.1f} s"
    # A fresh bucket lets the burst through; beyond it only what refilled
    # while the flood was handled.
    assert burst <= len(acked) <= burst + rate_per_s * elapsed + 1, (len(acked), elapsed)

    stored = collections.Counter()
    ids = {}
    for conv in convs:
        for txn, sender, msg_id in message_rows(stack, conv):
            assert sender == room.users["a"].id
            stored[txn] += 1
            ids[txn] = msg_id
    assert set(stored) == set(acked), (set(stored) ^ set(acked))
    assert max(stored.values()) == 1
    assert ids == acked
    return acked, refused


def test_rate_limit_refuses_excess_messages_which_are_neither_delivered_nor_stored(
        tuned_stack, tuned_api, tuned_mqtt):
    room = two_members(tuned_api, tuned_mqtt)
    b = room.client("b")

    txns, outcomes, elapsed = flood_messages(room, 100)

    acked, refused = check_flood_accounting(tuned_stack, room, txns, outcomes, elapsed,
                                            TUNED_RATE_BURST, TUNED_RATE_PER_S)
    # Barrier: b's own message reaches b after everything a's flood produced.
    barrier = room.send("b", "after the flood")
    b.wait_message(room.topic("m"), {"id": barrier})
    delivered = [m["txn"] for m in received_json(b, room.topic("m"))
                 if m["from"] == room.users["a"].id]
    assert sorted(delivered) == sorted(acked)
    assert not refused & set(delivered)

    # A refused message may be sent again with its txn once the bucket has
    # refilled (one token per 1/rate s): it is then stored once.
    a = room.client("a")
    again = sorted(refused)[0]
    time.sleep(2.0 / TUNED_RATE_PER_S)
    a.clear()  # forget the first refusal of that txn
    ack = a.wait_ack(a.send(room.conv, "again", txn=again))
    assert [r for r in message_rows(tuned_stack, room.conv) if r[0] == again] == [
        (again, room.users["a"].id, ack["id"])]


def test_rate_limited_mqtt5_publisher_gets_reason_135_for_each_refused_message(
        tuned_api, tuned_mqtt):
    room = open_room(tuned_api, tuned_mqtt, {"a": [], "b": []})
    a = room.connect("a", protocol=parley.MQTTv5)
    count = 3 * TUNED_RATE_BURST
    txns = [parley.new_txn() for _ in range(count)]

    # Pipelined (within paho's default window of 20 in flight, the broker's
    # receive maximum) so that even a slow machine sends them faster than
    # the bucket refills; each PUBACK is matched to its message by mid.
    infos = {t: a.publish(room.topic("m"), {"txn": t, "type": "text", "body": "v5"},
                          wait=False) for t in txns}
    reasons = {t: a.wait_puback(info.mid, timeout=60) for t, info in infos.items()}

    outcomes = wait_outcomes(a, txns, timeout=60)
    refused = {t for t in txns if outcomes[t][0][0] == "error"}
    assert refused, "nothing was rate limited"
    assert all(outcomes[t][0][1]["code"] == "rate_limited" for t in refused)
    assert {t for t, rc in reasons.items() if rc == PUBACK_NOT_AUTHORIZED} == refused
    assert all(rc == 0 for t, rc in reasons.items() if t not in refused), reasons


def test_default_rate_limit_lets_a_burst_of_500_through_then_refuses(api, mqtt, stack):
    room = open_room(api, mqtt, {"a": ["d1"], "b": []})

    txns, outcomes, elapsed = flood_messages(room, 1000)

    check_flood_accounting(stack, room, txns, outcomes, elapsed,
                           DEFAULT_RATE_BURST, DEFAULT_RATE_PER_S)


def test_rate_limit_is_one_bucket_per_user_across_conversations(
        tuned_stack, tuned_api, tuned_mqtt):
    room = two_members(tuned_api, tuned_mqtt)
    other = tuned_api.create_conversation(room.users["a"], [room.users["b"]])["id"]
    subscribe_when_allowed(room.client("a"), f"conv/{other}/m")

    # Spread over two conversations, the flood still draws on one bucket.
    txns, outcomes, elapsed = flood_messages(room, 100, convs=[room.conv, other])

    check_flood_accounting(tuned_stack, room, txns, outcomes, elapsed,
                           TUNED_RATE_BURST, TUNED_RATE_PER_S, convs=[room.conv, other])
    # Another user has a bucket of their own.
    room.client("b").send_and_ack(other, "b is not limited by a")


# ------------------------------------------------------------------ revocation


def test_logout_everywhere_disconnects_every_device_of_the_user(api, mqtt):
    room = open_room(api, mqtt, {"a": ["phone"], "b": ["d1"]})
    room.connect("a", "desktop", transport="websockets")

    api.logout(room.users["a"], everywhere=True)

    for device in ("phone", "desktop"):
        room.client("a", device).wait_disconnected()
    # Other users stay.
    assert room.client("b").connected
    room.send("b", "still connected")


def test_logout_everywhere_old_access_token_no_longer_connects(api, mqtt):
    a = api.register(parley.unique_name("a"))
    device = mqtt.connect(a)

    api.logout(a, everywhere=True)
    device.wait_disconnected()

    assert mqtt.refused(a) in CONNACK_REFUSED


def test_broker_drops_and_refuses_tokens_issued_before_tokens_valid_after(api, mqtt, stack):
    """The broker's half of a revocation, with the database change and the
    event parley-api is to send (ARCHITECTURE.md, sessions_revoked)."""
    a, b = api.register(parley.unique_name("a")), api.register(parley.unique_name("b"))
    phone, desktop = mqtt.connect(a, device="phone"), mqtt.connect(a, device="desktop")
    bystander = mqtt.connect(b)

    stack.sql("UPDATE users SET tokens_valid_after = now() WHERE id = :'u';"
              " SELECT pg_notify('parley_events',"
              "   json_build_object('type', 'sessions_revoked', 'user', :'u')::text)",
              u=a.id)

    phone.wait_disconnected()
    desktop.wait_disconnected()
    assert mqtt.refused(a, device="phone") in CONNACK_REFUSED
    assert bystander.connected
    assert bystander.subscribe(f"user/{b.id}/inbox")[0] in (0, 1)

    # A token issued after the revocation connects.
    valid_after = int(stack.sql("SELECT floor(extract(epoch FROM tokens_valid_after))::bigint"
                                " FROM users WHERE id = :'u'", u=a.id)[0][0])
    wait_for(lambda: time.time() >= valid_after + 1.05, timeout=5,
             what="the second after the revocation")
    fresh = api.login(a.username, a.password)
    assert jwt_claims(fresh)["iat"] > valid_after
    mqtt.connect(fresh, device="phone").disconnect()
