"""test_hostile_mqtt.py - hostile MQTT clients: taking over another user's
client id, wills, shared and $SYS subscriptions, wildcard and topic tricks,
topic aliases and QoS 2 flows that outlive a membership, SUBSCRIBE repeated
to a filter already held, and malformed packets from raw sockets.

Per DESIGN.md ("Identity and tokens", "Topics (v1)") and docs/PROTOCOL.md:
only a user's own id can appear in its client id; a second connection with
the same client id takes over the first (MQTT's rule) but only within one
user; will messages are never delivered (and so never stored);
`$share/...`, `$SYS/...` and wildcards other than a trailing one under a
readable prefix are refused; membership is checked on every publish and
delivery, so a topic alias or an unfinished QoS 2 flow carries no right
beyond the membership it was set up under.  Whatever a client sends, the
broker stays up and its memory bounded.

Negative checks use a barrier: a marker sent after the forbidden publish
that must arrive, after which the forbidden one can no longer arrive.
Storage is checked in PostgreSQL by txn.  Tests that measure the broker's
memory or flood it with junk run on a private stack started for this
module (`junk_stack`), so the shared stack is not disturbed; the raw MQTT
client below speaks just enough of MQTT 3.1.1 and 5 to send what paho
would refuse to.
"""

import json
import os
import secrets
import shutil
import socket
import struct
import tempfile
import time
import types
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import conftest
import live_support
import parley
from parley import WaitTimeout, wait_for

V311, V5 = parley.MQTTv311, parley.MQTTv5
PROTOCOLS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]
CONNACK_NOT_AUTHORIZED = 5
V5_CONNECT_REFUSALS = (134, 135)
RC_NOT_AUTHORIZED = 0x87
WAIT = 20.0  # bound of every wait for something that should happen
RSS_BOUND_MB = 50

# Packet types (the high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, DISCONNECT = 8, 9, 14

# MQTT 5 property identifiers used here, with their value sizes.
PROP_SESSION_EXPIRY, PROP_WILL_DELAY, PROP_TOPIC_ALIAS = 0x11, 0x18, 0x23
_PROP_SIZE = {PROP_SESSION_EXPIRY: 4, PROP_WILL_DELAY: 4, PROP_TOPIC_ALIAS: 2}


# ------------------------------------------------------------------ raw MQTT


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_bytes(data):
    """A length-prefixed string or binary field."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def properties(*pairs):
    """An MQTT 5 property block from (identifier, integer value) pairs."""
    raw = b"".join(bytes([pid]) + value.to_bytes(_PROP_SIZE[pid], "big") for pid, value in pairs)
    return varint(len(raw)) + raw


def connect_packet(client_id, username=None, password=None, v5=False, clean=True, keepalive=30,
                   will=None, props=()):
    """will: dict(topic, payload, qos=0, retain=False, props=())."""
    flags = 0x02 if clean else 0
    payload = mqtt_bytes(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if v5:
            payload += properties(*will.get("props", ()))
        payload += mqtt_bytes(will["topic"]) + mqtt_bytes(will["payload"])
    if username is not None:
        flags |= 0x80
        payload += mqtt_bytes(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_bytes(password)
    header = mqtt_bytes("MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack("!H", keepalive)
    if v5:
        header += properties(*props)
    return packet(CONNECT << 4, header + payload)


def publish_packet(topic, payload, qos=0, mid=None, retain=False, dup=False, v5=False, props=()):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    body = mqtt_bytes(topic)
    if qos:
        body += struct.pack("!H", mid)
    if v5:
        body += properties(*props)
    first = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return packet(first, body + payload)


def subscribe_packet(mid, filters, v5=False):
    body = struct.pack("!H", mid) + (properties() if v5 else b"")
    for topic_filter, qos in filters:
        body += mqtt_bytes(topic_filter) + bytes([qos])
    return packet((SUBSCRIBE << 4) | 0x02, body)


def pubrel_packet(mid):
    return packet((PUBREL << 4) | 0x02, struct.pack("!H", mid))


class RawMqtt:
    """One TCP connection to the broker, driven byte by byte."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.buf = b""
        self.v5 = False
        self._mid = 0
        self.received = []  # PUBLISH packets the broker sent: (topic, payload)

    def send(self, data):
        self.sock.sendall(data)

    def next_mid(self):
        self._mid = self._mid % 65535 + 1
        return self._mid

    def _packet_in_buffer(self):
        """(type, flags, body) if a whole packet is buffered, else None."""
        if len(self.buf) < 2:
            return None
        length, shift, i = 0, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            byte = self.buf[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                break
            shift += 7
        if len(self.buf) < i + length:
            return None
        first, body = self.buf[0], self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return first >> 4, first & 0x0F, body

    def read_packet(self, timeout=WAIT):
        """The next packet, or None once the broker closed the connection.
        Raises WaitTimeout if neither happens in time."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._packet_in_buffer()
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"no packet from the broker within {timeout:g}s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not data:
                return None
            self.buf += data

    def expect(self, ptype, timeout=WAIT):
        """Waits for a packet of type ptype and returns its body (None if the
        connection closed first).  PUBLISH packets on the way are recorded
        and acknowledged."""
        while True:
            got = self.read_packet(timeout)
            if got is None:
                return None
            kind, flags, body = got
            if kind == ptype:
                return body
            if kind == PUBLISH:
                self._take_publish(flags, body)

    def _take_publish(self, flags, body):
        qos = (flags >> 1) & 3
        (tlen,) = struct.unpack("!H", body[:2])
        topic, rest = body[2:2 + tlen].decode("utf-8", "replace"), body[2 + tlen:]
        if qos:
            mid, rest = rest[:2], rest[2:]
            self.send(packet((PUBACK if qos == 1 else PUBREC) << 4, mid))
        if self.v5:
            plen, used = _read_varint(rest)
            rest = rest[used + plen:]
        self.received.append((topic, rest))

    def connect(self, client_id, username=None, password=None, v5=False, **kw):
        """Sends CONNECT; returns the CONNACK code (None if closed without)."""
        self.v5 = v5
        self.send(connect_packet(client_id, username, password, v5=v5, **kw))
        body = self.expect(CONNACK)
        return None if body is None else body[1]

    def publish(self, topic, payload, qos=1, **kw):
        """Publishes; for QoS 1 returns the PUBACK reason, for QoS 2 the
        PUBREC reason (0 for MQTT 3.1.1), None if the connection closed.
        QoS 0 returns None at once."""
        mid = self.next_mid() if qos else None
        self.last_mid = mid
        self.send(publish_packet(topic, payload, qos, mid, v5=self.v5, **kw))
        if not qos:
            return None
        return self.ack_reason(PUBACK if qos == 1 else PUBREC, mid)

    def ack_reason(self, ptype, mid):
        while True:
            body = self.expect(ptype)
            if body is None:
                return None
            if struct.unpack("!H", body[:2])[0] == mid:
                return body[2] if len(body) > 2 else 0

    def release(self, mid):
        """PUBREL for mid; returns the PUBCOMP reason (None if closed)."""
        self.send(pubrel_packet(mid))
        return self.ack_reason(PUBCOMP, mid)

    def subscribe(self, topic_filter, qos=1):
        """The SUBACK code for one filter, None if the broker closed the
        connection instead (an invalid filter)."""
        mid = self.next_mid()
        self.send(subscribe_packet(mid, [(topic_filter, qos)], v5=self.v5))
        body = self.expect(SUBACK)
        if body is None:
            return None
        rest = body[2:]
        if self.v5:
            plen, used = _read_varint(rest)
            rest = rest[used + plen:]
        return rest[0]

    def wait_publish(self, topic, word, timeout=WAIT):
        """Waits for a PUBLISH on topic whose payload holds word; returns
        the payload."""
        deadline = time.monotonic() + timeout
        while True:
            for got_topic, payload in self.received:
                if got_topic == topic and word.encode() in payload:
                    return payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"no PUBLISH on {topic} with {word} within {timeout:g}s")
            got = self.read_packet(left)
            if got is None:
                raise AssertionError("the broker closed the connection")
            if got[0] == PUBLISH:
                self._take_publish(got[1], got[2])

    def closed_by_broker(self, timeout=WAIT):
        """True if the broker closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read_packet(deadline - time.monotonic()) is None:
                    return True
            except WaitTimeout:
                return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _read_varint(data):
    value, shift = 0, 0
    for i, byte in enumerate(data):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ValueError("truncated variable byte integer")


@pytest.fixture
def raw(stack):
    """Factory: raw(stack=None) -> a RawMqtt to the given (default: the
    session's) stack; all closed when the test ends."""
    opened = []

    def _open(on=None):
        conn = RawMqtt((on or stack).mqtt_port)
        opened.append(conn)
        return conn

    yield _open
    for conn in opened:
        conn.close()


def raw_connect(raw_factory, account, device, v5=False, on=None, **kw):
    conn = raw_factory(on)
    code = conn.connect(f"{account.id}:{device}", account.id, account.token, v5=v5, **kw)
    assert code == 0, f"CONNECT of {account.id}:{device} refused: {code}"
    return conn


# ------------------------------------------------------------------ helpers


def chat(txn, body, **extra):
    payload = {"txn": txn, "type": "text", "body": body}
    payload.update(extra)
    return payload


def json_bytes(payload):
    return json.dumps(payload).encode()


def subscribe_granted(client, topic, timeout=WAIT):
    """Subscribes, retrying while refused: a membership made over HTTP
    reaches the broker's cache a moment after the answer."""
    def granted():
        code = client.subscribe(topic)[0]
        return code < 0x80
    wait_for(granted, timeout, f"the subscription to {topic} to be granted")


def stored_count(stack, txn):
    return int(stack.sql("SELECT count(*) FROM messages WHERE txn = :'txn'", txn=txn)[0][0])


def stored_rows(stack, word):
    """Messages whose txn or body holds word."""
    return stack.sql("SELECT id::text, txn, sender_id::text FROM messages"
                     " WHERE txn LIKE '%' || :'w' || '%' OR body LIKE '%' || :'w' || '%'", w=word)


def seen_by(clients, word):
    """Messages received by any of clients whose payload holds word."""
    return [(c.client_id, m) for c in clients for m in c.messages() if word.encode() in m.payload]


def barrier(sender, conv, *receivers):
    """A marker from sender on conv/{conv}/m that every receiver gets: what
    was published before it can no longer arrive after."""
    txn = sender.send(conv, "marker")
    for r in receivers:
        r.wait_message(f"conv/{conv}/m", {"txn": txn}, timeout=WAIT)
    return txn


class LogWatch:
    """New lines of a stack's mosquitto.log since mark()."""

    def __init__(self, stack):
        self.path = Path(stack.dir) / "mosquitto.log"
        self.mark()

    def mark(self):
        self.offset = self.path.stat().st_size

    def text(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def wait_gone(self, client_id, timeout=WAIT):
        """Waits until the broker logs that client_id's connection ended
        (it sends the client's will, if any, right after)."""
        ends = ("closed its connection", "disconnected", "Socket error", "exceeded timeout",
                "already connected, closing old connection")

        def gone():
            return any(client_id in line and any(e in line for e in ends)
                       for line in self.text().splitlines())
        wait_for(gone, timeout, f"the broker to notice that {client_id} is gone")


def open_room(api, mqtt):
    """A group of owner, member and witness (and an outsider in no
    conversation with them).  The owner and the witness are connected and
    subscribed to conv/{c}/# (the owner to its inbox too); the member is
    for the test to connect."""
    owner, member, witness, outsider = (api.register() for _ in range(4))
    conv = api.create_conversation(owner, [member, witness], title="hostile")["id"]
    o = mqtt.connect(owner, device=new_word("owner"))
    o.ensure_inbox()
    w = mqtt.connect(witness, device=new_word("witness"))
    subscribe_granted(o, f"conv/{conv}/#")
    subscribe_granted(w, f"conv/{conv}/#")
    return types.SimpleNamespace(conv=conv, topic=f"conv/{conv}/m", owner=owner, member=member,
                                 witness=witness, outsider=outsider, o=o, w=w)


@pytest.fixture
def room(api, mqtt):
    """A room of its own, for a test that changes its membership."""
    return open_room(api, mqtt)


# A shared room is replaced once its access tokens have less than this left
# (the API's tokens live 15 minutes; the broker closes a connection whose
# token expired, and this module can take longer than that on a slow machine).
SHARED_ROOM_MIN_TOKEN_LEFT_S = 300


@pytest.fixture(scope="module")
def _shared_rooms(stack):
    """The current shared room and its MQTT clients, closed at the end."""
    state = {"room": None, "mqtt": None}
    try:
        yield state
    finally:
        if state["mqtt"] is not None:
            state["mqtt"].close_all()


@pytest.fixture
def shared_room(stack, api, _shared_rooms):
    """One room for the tests that leave its membership alone (each uses
    words and device names of its own); a new one once the tokens of the
    current one are about to expire."""
    room = _shared_rooms["room"]
    if room is not None:
        left = min(parley.jwt_claims(a)["exp"] for a in
                   (room.owner, room.member, room.witness, room.outsider)) - time.time()
        if left < SHARED_ROOM_MIN_TOKEN_LEFT_S:
            _shared_rooms["mqtt"].close_all()
            room = None
    if room is None:
        _shared_rooms["mqtt"] = stack.mqtt()
        room = _shared_rooms["room"] = open_room(api, _shared_rooms["mqtt"])
    return room


def remove_member(api, room):
    """The owner removes the member over HTTP; waits until the broker has
    applied it (the member_removed event on conv/{c}/event is published
    right after the broker's cache changed)."""
    api.call("DELETE", f"/v1/conversations/{room.conv}/members/{room.member.id}",
             expect=(200, 204), token=room.owner)
    room.o.wait_message(f"conv/{room.conv}/event",
                        {"type": "member_removed", "user": room.member.id}, timeout=WAIT)


def assert_refused_connack(code, protocol):
    if protocol == V311:
        assert code == CONNACK_NOT_AUTHORIZED, f"CONNACK {code!r}"
    else:
        assert code in V5_CONNECT_REFUSALS, f"CONNACK {code!r}"


def new_word(prefix):
    return f"{prefix}{secrets.token_hex(6)}"


# ------------------------------------------------------------------ client-id takeover


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("username", ["attackers_own", "victims"])
def test_another_user_cannot_take_over_a_live_client_id(api, mqtt, shared_room, protocol, username):
    """B presents its own valid token with A's client id: refused before the
    broker's takeover, so A's connection stays and keeps receiving."""
    room = shared_room
    a, b = room.member, room.outsider
    phone = new_word("phone")
    victim = mqtt.connect(a, device=phone)
    subscribe_granted(victim, room.topic)
    code = mqtt.refused(b, protocol=protocol, client_id=f"{a.id}:{phone}",
                        username=b.id if username == "attackers_own" else a.id)
    assert_refused_connack(code, protocol)
    txn = room.o.send(room.conv, "after the takeover attempt")
    victim.wait_message(room.topic, {"txn": txn}, timeout=WAIT)
    assert victim.connected and victim.disconnect_rc is None


def test_another_user_cannot_resume_a_persistent_session_by_client_id(api, mqtt, shared_room):
    """A's offline session (clean session off) keeps its subscription; B's
    attempt to open it is refused and leaves it intact, and B's own
    persistent session starts empty."""
    room = shared_room
    a, b = room.member, room.outsider
    tablet = new_word("tablet")
    first = mqtt.connect(a, device=tablet, clean=False)
    subscribe_granted(first, room.topic)
    first.disconnect()
    for username in (b.id, a.id):
        with pytest.raises(parley.MqttRefused) as refused:
            mqtt.connect(b, client_id=f"{a.id}:{tablet}", username=username, clean=False)
        assert refused.value.rc == CONNACK_NOT_AUTHORIZED
    own = mqtt.connect(b, device=tablet, clean=False)
    assert not own.session_present, "B's new session came with state"
    own.disconnect()
    again = mqtt.connect(api.login(a.username, a.password), device=tablet, clean=False)
    assert again.session_present, "a refused takeover attempt wiped A's session"
    txn = room.o.send(room.conv, "to the resumed session")
    again.wait_message(room.topic, {"txn": txn}, timeout=WAIT)


def test_device_resuming_its_own_persistent_session_gets_what_was_held_for_it(
        api, mqtt, stack, shared_room):
    """docs/PROTOCOL.md: "Clean session off with QoS 1 subscriptions lets
    the broker hold messages for a short disconnect".  The positive
    counterpart of the test above: the session's owner, not anyone else,
    gets what arrived while it was away."""
    room = shared_room
    a = room.member
    laptop = new_word("laptop")
    first = mqtt.connect(a, device=laptop, clean=False)
    subscribe_granted(first, room.topic, timeout=WAIT)
    watch = LogWatch(stack)
    first.disconnect()
    # The message must come while the session is offline: a DISCONNECT the
    # broker has not read yet would leave it to the closing connection.
    watch.wait_gone(f"{a.id}:{laptop}")
    held = room.o.send(room.conv, "sent while the laptop was away")
    room.w.wait_message(room.topic, {"txn": held}, timeout=WAIT)
    again = mqtt.connect(api.login(a.username, a.password), device=laptop, clean=False)
    assert again.session_present
    later = room.o.send(room.conv, "sent after the laptop came back")
    again.wait_message(room.topic, {"txn": later}, timeout=WAIT)
    got = [m.json.get("txn") for m in again.messages(room.topic)]
    assert held in got, f"the message held for the offline session never came: {got}"


def test_member_removed_while_offline_gets_nothing_sent_after_the_removal_on_resume(
        api, mqtt, stack, room):
    """A persistent session subscribed while a member, offline while the
    owner removes the member: on resume it carries nothing sent after the
    removal (whatever the broker holds for offline sessions)."""
    device = new_word("offline")
    first = mqtt.connect(room.member, device=device, clean=False)
    subscribe_granted(first, room.topic)
    watch = LogWatch(stack)
    first.disconnect()
    watch.wait_gone(f"{room.member.id}:{device}")  # the session is offline
    remove_member(api, room)
    secret = room.o.send(room.conv, "after the removal, for members only")
    room.w.wait_message(room.topic, {"txn": secret}, timeout=WAIT)
    again = mqtt.connect(api.login(room.member.username, room.member.password), device=device,
                         clean=False)
    marker = room.o.send(room.conv, "still for members only")
    room.w.wait_message(room.topic, {"txn": marker}, timeout=WAIT)
    # A direct conversation with the owner gives a barrier the removed
    # member still receives.
    ping = api.create_conversation(room.owner, [room.member], kind="direct")["id"]
    subscribe_granted(again, f"conv/{ping}/m")
    barrier(room.o, ping, again)
    got = [m.json.get("txn") for m in again.messages(room.topic) if isinstance(m.json, dict)]
    assert secret not in got and marker not in got, got


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_user_takeover_is_allowed_and_the_old_connections_will_is_not_sent(
        api, mqtt, stack, shared_room, protocol):
    """MQTT's takeover within one user: the new connection wins, the old one
    is closed, and the will the broker sends on the old one's behalf is
    refused like any will."""
    room = shared_room
    word = new_word("takeoverwill")
    phone = new_word("phone")
    old = mqtt.connect(room.member, device=phone, protocol=protocol,
                       will={"topic": room.topic, "qos": 1,
                             "payload": chat(word, f"{word} from the old connection")})
    watch = LogWatch(stack)
    new = mqtt.connect(api.login(room.member.username, room.member.password),
                       device=phone, protocol=protocol)
    old.wait_disconnected(timeout=WAIT)
    watch.wait_gone(f"{room.member.id}:{phone}")
    subscribe_granted(new, room.topic)
    ack = new.send_and_ack(room.conv, "the new connection works", timeout=WAIT)
    barrier(room.o, room.conv, room.w, new)
    assert room.w.messages(room.topic, {"id": ack["id"]}), "the new connection's message"
    assert seen_by([room.o, room.w, new], word) == []
    assert stored_rows(stack, word) == []


# ------------------------------------------------------------------ wills


def spoofed_will(room, word):
    return json_bytes(chat(word, f"{word}: I did not write this", id="1", ts=5,
                           **{"from": room.owner.id}))


WILL_ENDINGS = {
    # name: (MQTT 5?, will properties, CONNECT properties, how it ends)
    "v311_socket_killed": (False, (), (), "kill"),
    "v5_socket_killed": (True, (), (), "kill"),
    "v5_delayed_will_socket_killed": (True, ((PROP_WILL_DELAY, 1),),
                                      ((PROP_SESSION_EXPIRY, 30),), "kill"),
    "v5_disconnect_with_will_message": (True, (), (), "disconnect_with_will"),
    "v311_keepalive_expired": (False, (), (), "silence"),
}


def end_connection(conn, how):
    if how == "kill":
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    elif how == "disconnect_with_will":
        # MQTT 5 DISCONNECT, reason 0x04: "disconnect with will message"
        conn.send(packet(DISCONNECT << 4, bytes([0x04]) + properties()))
        conn.closed_by_broker()
    elif how == "silence":
        conn.closed_by_broker(timeout=WAIT)  # keepalive 1 s: the broker gives up


@pytest.mark.parametrize("ending", sorted(WILL_ENDINGS))
@pytest.mark.parametrize("who", ["member", "outsider"])
def test_will_on_a_conversation_is_never_delivered_nor_stored(stack, raw, shared_room, who, ending):
    """PROTOCOL.md: will messages are never delivered.  A member's will
    with a spoofed sender, id and ts, or an outsider's on a conversation it
    is not in: once the connection ends uncleanly, neither reaches a member
    nor PostgreSQL."""
    room = shared_room
    v5, will_props, connect_props, how = WILL_ENDINGS[ending]
    account = getattr(room, who)
    word = new_word("will")
    watch = LogWatch(stack)
    device = new_word("will")
    conn = raw_connect(raw, account, device, v5=v5, props=connect_props,
                       keepalive=1 if how == "silence" else 30,
                       will={"topic": room.topic, "payload": spoofed_will(room, word), "qos": 1,
                             "props": will_props})
    end_connection(conn, how)
    watch.wait_gone(f"{account.id}:{device}")
    if will_props:
        time.sleep(1.5)  # the will delay (1 s) has to run out before the will is due
    barrier(room.o, room.conv, room.w)
    assert seen_by([room.o, room.w], word) == []
    assert stored_rows(stack, word) == []


@pytest.mark.parametrize("target", ["event", "owners_inbox", "retained"])
def test_will_on_a_server_only_topic_or_retained_is_never_delivered(
        stack, raw, shared_room, target):
    room = shared_room
    word = new_word("willsrv")
    topic = {"event": f"conv/{room.conv}/event", "owners_inbox": f"user/{room.owner.id}/inbox",
             "retained": room.topic}[target]
    watch = LogWatch(stack)
    device = new_word("willsrv")
    conn = raw_connect(raw, room.member, device,
                       will={"topic": topic, "payload": spoofed_will(room, word), "qos": 1,
                             "retain": target == "retained"})
    end_connection(conn, "kill")
    watch.wait_gone(f"{room.member.id}:{device}")
    barrier(room.o, room.conv, room.w)
    assert seen_by([room.o, room.w], word) == []
    assert stored_rows(stack, word) == []


# ------------------------------------------------------------------ $share, $SYS


SHARED_AND_SYS = ["$share/g/user/{me}/inbox", "$share/g/user/{me}/#", "$share/g/conv/{c}/#",
                  "$share/g/$SYS/#", "$SYS/broker/uptime", "$SYS/+", "$SHARE/g/conv/{c}/m"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("pattern", SHARED_AND_SYS)
def test_shared_and_sys_subscriptions_are_refused_for_users(mqtt, shared_room, protocol, pattern):
    room = shared_room
    # $share/g/conv/{c}/m, $share/g/#, $SYS/# and $SYS/broker/clients/connected
    # are in test_access.py; these are their neighbours.
    client = mqtt.connect(room.member, device=new_word("sys"), protocol=protocol)
    topic = pattern.replace("{c}", room.conv).replace("{me}", room.member.id)
    code = client.subscribe(topic)[0]
    assert code >= 0x80, f"{topic} granted to a user: {code:#x}"


@pytest.mark.parametrize("topic_filter", ["$parley/consumed", "$parley/#", "$parley/+"])
def test_users_cannot_subscribe_to_the_consumed_topic(mqtt, shared_room, topic_filter):
    client = mqtt.connect(shared_room.member, device=new_word("consumed"))
    assert client.subscribe(topic_filter)[0] >= 0x80


def test_consumed_receipts_and_typing_reach_not_even_an_admin(api, mqtt, room, admin):
    """Receipts (until stored) and typing notices over the limit are sent
    to $parley/consumed.  An admin may subscribe to any filter, but every
    delivery is checked: even an admin who is a member of the conversation
    gets nothing there, only the rewrites on the conversation's topics."""
    api.call("POST", f"/v1/conversations/{room.conv}/members", expect=(201, 204),
             token=room.owner, json={"user": admin.id})
    watcher = mqtt.connect(admin, device=new_word("consumed"))
    subscribe_granted(watcher, room.topic)
    assert watcher.subscribe("$parley/#")[0] < 0x80  # admins may use any filter
    member = mqtt.connect(room.member, device=new_word("consumed"))
    up_to = room.o.send_and_ack(room.conv, "something to read", timeout=WAIT)["id"]
    member.publish(f"conv/{room.conv}/receipt", {"type": "read", "up_to": up_to})
    for _ in range(3):  # the second and third are over the typing limit
        member.publish(f"conv/{room.conv}/typing", {"state": "typing"})
    txn = member.send(room.conv, "after the receipt and the typing")
    watcher.wait_message(room.topic, {"txn": txn}, timeout=WAIT)
    assert watcher.messages("$parley/#") == []


def test_positive_control_admin_may_subscribe_to_sys(mqtt, admin):
    client = mqtt.connect(admin, device="sys")
    assert client.subscribe("$SYS/#")[0] < 0x80


@pytest.mark.parametrize("pattern", ["$SYS/broker/uptime", "$share/g/conv/{c}/m", "$SYS/parley"])
def test_publishing_to_shared_or_sys_topics_is_refused_and_goes_nowhere(stack, mqtt, shared_room,
                                                                        pattern):
    room = shared_room
    word = new_word("sys")
    client = mqtt.connect(room.member, device=new_word("syspub"), protocol=V5)
    topic = pattern.replace("{c}", room.conv)
    assert client.publish(topic, chat(word, word)) >= 0x80
    barrier(room.o, room.conv, room.w)
    assert seen_by([room.o, room.w], word) == []
    assert stored_rows(stack, word) == []


# ------------------------------------------------------------------ wildcard and topic tricks


def upper(uuid_text):
    return uuid_text.upper()


SUBSCRIBE_TRICKS = {
    # conv/#, conv/+/m, +/+/+ and user/+/inbox are in test_access.py
    "conv_c_plus_hash": "conv/{c}/+/#",
    "conv_c_m_hash": "conv/{c}/m/#",
    "conv_c_plus_plus": "conv/{c}/+/+",
    "conv_c_hash_in_the_middle": "conv/{c}/#/m",
    "plus_c_m": "+/{c}/m",
    "conv_upper_c_m": "conv/{C}/m",
    "conv_upper_c_hash": "conv/{C}/#",
    "conv_c_without_dashes": "conv/{c_nodash}/m",
    "conv_c_trailing_slash": "conv/{c}/m/",
    "conv_c_double_slash": "conv/{c}//m",
    "conv_c_capital_leaf": "conv/{c}/M",
    "conv_c_no_leaf": "conv/{c}",
    "leading_slash": "/conv/{c}/m",
    "conv_c_with_nul": "conv/{c}/m\u0000",
    "conv_c_nul_then_other": "conv/{c}\u0000/m",
    "user_me_plus_hash": "user/{me}/+/#",
    "user_me_inbox_hash": "user/{me}/inbox/#",
    "user_upper_me_inbox": "user/{ME}/inbox",
    "user_me_dotdot_other_inbox": "user/{me}/../{other}/inbox",
    "user_other_inbox_plus": "user/{other}/+",
}


def fill(pattern, room):
    return (pattern.replace("{c}", room.conv).replace("{C}", upper(room.conv))
            .replace("{c_nodash}", room.conv.replace("-", ""))
            .replace("{me}", room.member.id).replace("{ME}", upper(room.member.id))
            .replace("{other}", room.owner.id))


@pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])
@pytest.mark.parametrize("trick", sorted(SUBSCRIBE_TRICKS))
def test_member_subscription_trick_is_refused(raw, shared_room, trick, v5):
    """Refused with a SUBACK failure, or the connection closed for an
    invalid filter; either way nothing is granted."""
    room = shared_room
    conn = raw_connect(raw, room.member, new_word("subtrick"), v5=v5)
    code = conn.subscribe(fill(SUBSCRIBE_TRICKS[trick], room))
    assert code is None or code >= 0x80, f"granted: {code:#x}"


PUBLISH_TRICKS = {
    "conv_upper_c_m": "conv/{C}/m",
    "conv_c_trailing_slash": "conv/{c}/m/",
    "conv_c_double_slash": "conv/{c}//m",
    "conv_c_capital_leaf": "conv/{c}/M",
    "conv_c_m_sub_level": "conv/{c}/m/x",
    "conv_c_no_leaf": "conv/{c}",
    "conv_c_event": "conv/{c}/event",
    "leading_slash": "/conv/{c}/m",
    "owners_inbox": "user/{other}/inbox",
    "own_inbox": "user/{me}/inbox",
    "own_presence": "user/{me}/presence",
    "conv_c_with_nul": "conv/{c}/m\u0000",
    "conv_c_nul_in_the_middle": "conv/{c}\u0000/m",
}


@pytest.mark.parametrize("trick", sorted(PUBLISH_TRICKS))
def test_member_publish_trick_is_refused_and_goes_nowhere(stack, raw, shared_room, trick):
    """An MQTT 5 member publishes near its conversation's topic: PUBACK 0x87
    (or the connection closed for an invalid topic); nothing reaches the
    conversation's subscribers, the owner's inbox or PostgreSQL."""
    room = shared_room
    word = new_word("pubtrick")
    conn = raw_connect(raw, room.member, new_word("pubtrick"), v5=True)
    reason = conn.publish(fill(PUBLISH_TRICKS[trick], room), json_bytes(chat(word, word)))
    assert reason is None or reason >= 0x80, f"accepted with reason {reason:#x}"
    barrier(room.o, room.conv, room.w)
    assert seen_by([room.o, room.w], word) == []
    assert stored_rows(stack, word) == []


# ------------------------------------------------------------------ MQTT 5 properties


def spoofing_properties(victim_id):
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("from", victim_id), ("verified", "true")]
    props.ResponseTopic = f"user/{victim_id}/inbox"
    props.CorrelationData = b"spoofed-correlation"
    props.ContentType = "text/html"
    return props


@pytest.mark.parametrize("leaf", ["m", "typing"])
def test_publish_properties_of_the_sender_are_not_passed_on(api, mqtt, shared_room, leaf):
    """DESIGN.md: what subscribers receive is the server's rewrite, and a
    client-sent value is never passed on.  An MQTT 5 sender attaches user
    properties (a "from" naming someone else), a response topic,
    correlation data and a content type; an MQTT 5 member receives the
    rewrite without any of them."""
    room = shared_room
    reader = mqtt.connect(room.witness, device=new_word("props"), protocol=V5)
    subscribe_granted(reader, f"conv/{room.conv}/{leaf}")
    sender = mqtt.connect(room.member, device=new_word("props"), protocol=V5)
    word = new_word("props")
    payload = chat(word, word) if leaf == "m" else {"state": "typing"}
    assert sender.publish(f"conv/{room.conv}/{leaf}", payload,
                          properties=spoofing_properties(room.owner.id)) < 0x80
    got = reader.wait_message(f"conv/{room.conv}/{leaf}",
                              lambda m: m.json and m.json.get("from") == room.member.id,
                              timeout=WAIT)
    passed_on = {name: getattr(got.properties, name) for name in
                 ("UserProperty", "ResponseTopic", "CorrelationData", "ContentType")
                 if got.properties is not None and hasattr(got.properties, name)}
    assert passed_on == {}, f"the sender's properties reached a subscriber: {passed_on}"


# ------------------------------------------------------------------ topic aliases


def test_topic_alias_set_up_as_a_member_carries_nothing_after_removal(api, stack, raw, room):
    """An MQTT 5 member binds alias 1 to conv/{c}/m while a member, is
    removed by the owner, then publishes with the alias alone (QoS 0, 1, 2):
    refused, never delivered, never stored."""
    word = new_word("alias")
    conn = raw_connect(raw, room.member, "alias", v5=True)
    before = f"{word}-before"
    assert conn.publish(room.topic, json_bytes(chat(before, before)), qos=1,
                        props=[(PROP_TOPIC_ALIAS, 1)]) < 0x80
    room.w.wait_message(room.topic, {"txn": before}, timeout=WAIT)
    # The alias alone works while a member (the control).
    alias_ok = f"{word}-alias-ok"
    assert conn.publish("", json_bytes(chat(alias_ok, alias_ok)), qos=1,
                        props=[(PROP_TOPIC_ALIAS, 1)]) < 0x80
    room.w.wait_message(room.topic, {"txn": alias_ok}, timeout=WAIT)

    remove_member(api, room)
    after = {qos: f"{word}-after-q{qos}" for qos in (0, 1, 2)}
    for qos, txn in after.items():
        reason = conn.publish("", json_bytes(chat(txn, txn)), qos=qos,
                              props=[(PROP_TOPIC_ALIAS, 1)])
        if qos:
            assert reason == RC_NOT_AUTHORIZED, f"QoS {qos} via the alias: {reason!r}"
    conn.release(conn.last_mid)  # a hostile PUBREL for the refused QoS 2 publish
    barrier(room.o, room.conv, room.w)
    for txn in after.values():
        assert seen_by([room.o, room.w], txn) == []
        assert stored_count(stack, txn) == 0
    wait_for(lambda: stored_count(stack, before) == 1 and stored_count(stack, alias_ok) == 1,
             WAIT, "the messages sent as a member in PostgreSQL")


def test_topic_alias_rebound_to_a_foreign_conversation_is_checked_against_it(
        api, stack, raw, room):
    """Alias 2 is bound to the member's conversation, then rebound by a
    (refused) publish to a conversation the member is not in: the alias now
    names the foreign topic and stays refused there."""
    word = new_word("rebind")
    foreign = api.create_conversation(room.outsider, [room.owner], title="foreign")["id"]
    subscribe_granted(room.o, f"conv/{foreign}/m")
    conn = raw_connect(raw, room.member, "rebind", v5=True)
    own = f"{word}-own"
    assert conn.publish(room.topic, json_bytes(chat(own, own)),
                        props=[(PROP_TOPIC_ALIAS, 2)]) < 0x80
    bind = f"{word}-bind"
    assert conn.publish(f"conv/{foreign}/m", json_bytes(chat(bind, bind)),
                        props=[(PROP_TOPIC_ALIAS, 2)]) == RC_NOT_AUTHORIZED
    via = f"{word}-via-alias"
    assert conn.publish("", json_bytes(chat(via, via)), props=[(PROP_TOPIC_ALIAS, 2)]) \
        == RC_NOT_AUTHORIZED
    barrier(room.o, room.conv, room.w)
    barrier(room.o, foreign, room.o)  # the owner is in both conversations
    for t in (bind, via):
        assert seen_by([room.o, room.w], t) == []
        assert stored_count(stack, t) == 0


# ------------------------------------------------------------------ QoS 2 and membership


def test_qos2_flow_interrupted_by_removal_carries_no_right_to_publish(api, stack, raw, room):
    """A v5 member publishes QoS 2 (PUBREC received: accepted), is removed
    before its PUBREL, releases it, then publishes QoS 2 again.  The first
    message was accepted while a member: stored exactly once, and if
    delivered, to members only and as stored.  Everything published after
    the removal is refused (PUBREC 0x87), never delivered, never stored."""
    word = new_word("qos2")
    conn = raw_connect(raw, room.member, "qos2", v5=True)
    member_view = parley.connect(room.member, device="view", port=stack.mqtt_port)
    try:
        subscribe_granted(member_view, room.topic)
        first = f"{word}-accepted"
        assert conn.publish(room.topic, json_bytes(chat(first, first)), qos=2) == 0
        first_mid = conn.last_mid

        remove_member(api, room)
        conn.send(publish_packet(room.topic, json_bytes(chat(first, first)), qos=2,
                                 mid=first_mid, dup=True, v5=True))
        assert conn.ack_reason(PUBREC, first_mid) == RC_NOT_AUTHORIZED, \
            "a DUP resend after the removal was accepted"
        assert conn.release(first_mid) is not None

        later = f"{word}-after-removal"
        assert conn.publish(room.topic, json_bytes(chat(later, later)), qos=2) == RC_NOT_AUTHORIZED
        conn.release(conn.last_mid)  # hostile: PUBREL after a refused PUBREC

        barrier(room.o, room.conv, room.w)
        assert seen_by([room.o, room.w, member_view], later) == []
        assert stored_count(stack, later) == 0
        wait_for(lambda: stored_count(stack, first) >= 1, WAIT, "the accepted QoS 2 message stored")
        assert stored_count(stack, first) == 1
        [[stored_id]] = stack.sql("SELECT id::text FROM messages WHERE txn = :'t'", t=first)
        delivered = seen_by([room.o, room.w], first)
        print(f"qos2: the message accepted before the removal reached {len(delivered)} of 2 "
              "remaining members at its PUBREL")
        for client_id, m in delivered:
            assert m.json["id"] == stored_id and m.json["from"] == room.member.id, (client_id, m)
        # The removed member's own subscription gets nothing after removal.
        assert seen_by([member_view], first) == []
    finally:
        member_view.disconnect()


# ------------------------------------------------------------------ repeated SUBSCRIBE

# plugin/options.c: each user may subscribe again to filters its clients
# already hold resubscribe_burst times at once, then resubscribe_per_min a
# minute (Debian's mosquitto 2.0.11 leaks a block on every such repeat).
RESUBSCRIBE_BURST = 1000
RESUBSCRIBE_PER_S = 1.0


def subscribe_repeatedly(client, topic, times, per_packet=400):
    """Subscribes to topic `times` more times, several filters per SUBSCRIBE;
    returns (granted, refused, seconds taken)."""
    codes, start = [], time.monotonic()
    while len(codes) < times:
        n = min(per_packet, times - len(codes))
        codes += client.subscribe([(topic, 1)] * n, timeout=WAIT)
    granted = sum(1 for c in codes if c < 0x80)
    return granted, len(codes) - granted, time.monotonic() - start


def assert_budget_spent(granted, refused, seconds):
    assert RESUBSCRIBE_BURST <= granted <= RESUBSCRIBE_BURST + RESUBSCRIBE_PER_S * seconds + 1, \
        (granted, seconds)
    assert refused > 0


def assert_no_budget_left(client, topic, spent_at, times=60):
    """After the user's budget was spent at spent_at (time.monotonic()),
    repeats get at most what has been refilled since."""
    granted, refused, _ = subscribe_repeatedly(client, topic, times)
    refilled = RESUBSCRIBE_PER_S * (time.monotonic() - spent_at) + 1
    assert granted <= refilled < times, (granted, refused, refilled)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_subscribing_again_to_a_held_filter_is_budgeted_per_user(api, mqtt, room, protocol):
    """One connection repeating SUBSCRIBE of a filter it holds gets the
    user's budget of repeats granted and the rest refused; the filter stays
    held (a message arrives once), a filter not held yet is still granted,
    a filter subscribed again after UNSUBSCRIBE is new, another device of
    the same user shares the spent budget and another user does not."""
    phone = mqtt.connect(room.member, device=new_word("resub"), protocol=protocol)
    subscribe_granted(phone, room.topic)
    granted, refused, seconds = subscribe_repeatedly(phone, room.topic, RESUBSCRIBE_BURST + 200)
    spent_at = time.monotonic()
    assert_budget_spent(granted, refused, seconds)

    first = room.o.send(room.conv, "after the repeats")
    barrier = room.o.send(room.conv, "barrier")
    phone.wait_message(room.topic, {"txn": barrier}, timeout=WAIT)
    got = [m.json.get("txn") for m in phone.messages(room.topic)]
    assert got.count(first) == 1, got

    assert phone.subscribe(f"conv/{room.conv}/typing")[0] < 0x80
    phone.unsubscribe(room.topic)
    assert phone.subscribe(room.topic)[0] < 0x80

    laptop = mqtt.connect(room.member, device=new_word("resub"), protocol=protocol)
    assert laptop.subscribe(room.topic)[0] < 0x80, "a first subscription is never a repeat"
    assert_no_budget_left(laptop, room.topic, spent_at)
    assert room.w.subscribe(f"conv/{room.conv}/#")[0] < 0x80, "another user paid for the repeats"


# A private stack with a budget small and slow enough to count exactly.
SMALL_BUDGET_OPTS = {"resubscribe_burst": 5, "resubscribe_per_min": 1}


@pytest.fixture(scope="module")
def small_budget_stack(request):
    yield from live_support.private_stack(request, SMALL_BUDGET_OPTS, prefix="parley-resub-")


def test_persistent_session_resubscribing_on_return_repeats_and_clean_does_not(
        small_budget_stack):
    """The filters a persistent session holds outlive the connection: a
    device that comes back and subscribes to them again repeats them, and
    with the budget spent those repeats are refused while the filters stay
    held.  With a clean session the broker holds nothing, so the same
    SUBSCRIBEs are new and granted."""
    api, mqtt = small_budget_stack.api(), small_budget_stack.mqtt()
    try:
        room = open_room(api, mqtt)
        me = room.member
        held = [room.topic, f"conv/{room.conv}/typing", f"user/{me.id}/inbox"]
        device = new_word("resume")
        first = mqtt.connect(me, device=device, clean=False)
        for topic in held:
            subscribe_granted(first, topic)
        granted, refused, _ = subscribe_repeatedly(first, room.topic, 10)
        assert (granted, refused) == (SMALL_BUDGET_OPTS["resubscribe_burst"], 5)
        first.disconnect()

        again = mqtt.connect(api.login(me.username, me.password), device=device, clean=False)
        assert again.session_present
        codes = [again.subscribe(topic)[0] for topic in held]
        # At most one token can have come back (one a minute) since.
        assert sum(1 for c in codes if c < 0x80) <= 1, [hex(c) for c in codes]
        txn = room.o.send(room.conv, "to the resumed session")
        again.wait_message(room.topic, {"txn": txn}, timeout=WAIT)
        again.disconnect()

        clean = mqtt.connect(api.login(me.username, me.password), device=device, clean=True)
        assert not clean.session_present
        assert [clean.subscribe(topic)[0] < 0x80 for topic in held] == [True] * len(held)
        txn = room.o.send(room.conv, "to the clean session")
        clean.wait_message(room.topic, {"txn": txn}, timeout=WAIT)
    finally:
        mqtt.close_all()


def test_kicked_persistent_session_keeps_its_subscriptions_with_the_budget_spent(
        small_budget_stack):
    """When the plugin disconnects a device (here: logout everywhere), the
    broker checks again every filter its persistent session holds and drops
    those refused.  That check is no SUBSCRIBE of the client's: it is not
    charged, so with the user's budget spent the session still holds its
    filters and the resumed device gets messages without subscribing."""
    api, mqtt = small_budget_stack.api(), small_budget_stack.mqtt()
    try:
        room = open_room(api, mqtt)
        me = room.member
        device = new_word("kicked")
        first = mqtt.connect(me, device=device, clean=False)
        subscribe_granted(first, room.topic)
        subscribe_granted(first, f"user/{me.id}/inbox")
        granted, refused, _ = subscribe_repeatedly(first, room.topic, 10)
        assert (granted, refused) == (SMALL_BUDGET_OPTS["resubscribe_burst"], 5)

        api.logout(me, everywhere=True)
        first.wait_disconnected()
        again = mqtt.connect(api.login(me.username, me.password), device=device, clean=False)
        assert again.session_present
        txn = room.o.send(room.conv, "to the session that was kicked")
        again.wait_message(room.topic, {"txn": txn}, timeout=WAIT)
    finally:
        mqtt.close_all()


# ------------------------------------------------------------------ malformed packets


@pytest.fixture(scope="module")
def junk_stack(request):
    """A private stack for the tests that flood the broker or measure its
    memory; stopped after the module, its directory kept if a test failed."""
    tmp = Path(tempfile.mkdtemp(prefix="parley-junk-"))
    failed_before = request.session.testsfailed
    try:
        s = conftest.start_stack(tmp / "stack")
    except parley.StackError as e:
        pytest.fail(f"could not start a private stack in {tmp}:\n{e}", pytrace=False)
    try:
        yield s
    finally:
        s.down()
        conftest.forget_stack(s)
        keep = os.environ.get("PARLEY_KEEP_STACK") == "1"
        if request.session.testsfailed > failed_before or keep:
            conftest._REPORT.append(f"junk stack directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def broker_rss_mb(stack):
    pid = stack.pid("broker")
    assert pid is not None, "no broker pid"
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def assert_broker_alive(stack):
    pid = stack.pid("broker")
    assert pid is not None and os.path.exists(f"/proc/{pid}"), "the broker is gone"
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] != "Z", "the broker is a zombie"


def assert_chat_still_works(stack):
    """A normal pair of users connects and chats on the stack."""
    api, mqtt = stack.api(), stack.mqtt()
    try:
        a, b = api.register(), api.register()
        conv = api.create_conversation(a, [b], kind="direct")["id"]
        cb = mqtt.connect(b)
        subscribe_granted(cb, f"conv/{conv}/m")
        ca = mqtt.connect(a)
        ack = ca.send_and_ack(conv, "still alive", timeout=WAIT)
        cb.wait_message(f"conv/{conv}/m", {"id": ack["id"]}, timeout=WAIT)
    finally:
        mqtt.close_all()


def assert_raw_chat_still_works(stack):
    """assert_chat_still_works with raw sockets: with a thousand sockets
    open, this process's new descriptors are above 1024, which paho's
    select() loop cannot watch."""
    api = stack.api()
    a, b = api.register(), api.register()
    conv = api.create_conversation(a, [b], kind="direct")["id"]
    topic, word = f"conv/{conv}/m", new_word("alive")
    reader, writer = RawMqtt(stack.mqtt_port), RawMqtt(stack.mqtt_port)
    try:
        assert reader.connect(f"{b.id}:raw", b.id, b.token) == 0
        wait_for(lambda: reader.subscribe(topic) < 0x80, WAIT, "the reader's subscription")
        assert writer.connect(f"{a.id}:raw", a.id, a.token, v5=True) == 0
        assert writer.publish(topic, json_bytes(chat(word, word))) < 0x80
        reader.wait_publish(topic, word)
    finally:
        reader.close()
        writer.close()


def junk_variants():
    """Byte strings a hostile or broken client might send first."""
    connect_ok_shape = connect_packet("x:y", "u", "p")
    return [
        os.urandom(64),
        os.urandom(2048),
        b"\x00" * 512,  # packet type 0 is reserved
        b"\xf0\x00",  # AUTH from an MQTT 3 client before CONNECT
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS ClientHello
        publish_packet("conv/x/m", b"{}"),  # PUBLISH before CONNECT
        packet(0x10, mqtt_bytes("MQTX") + b"\x04\x02\x00\x1e" + mqtt_bytes("c")),  # bad name
        packet(0x10, mqtt_bytes("MQTT") + b"\x09\x02\x00\x1e" + mqtt_bytes("c")),  # bad level
        packet(0x10, mqtt_bytes("MQTT") + b"\x04\x03\x00\x1e" + mqtt_bytes("c")),  # reserved flag
        packet(0x10, mqtt_bytes("MQTT") + b"\x04\xc6\x00\x1e" + mqtt_bytes("c")),  # will, no topic
        packet(0x10, mqtt_bytes("MQTT") + b"\x05\x02\x00\x1e\x05\x11\x00" + mqtt_bytes("c")),
        connect_ok_shape[: len(connect_ok_shape) // 2],  # truncated CONNECT, then silence
        b"\x10\xff\xff\xff\xff\x7f",  # a five-byte remaining length
        b"\x10\x80",  # remaining length cut short
        b"\x10\x7f" + b"\x00\x04MQTT\x04",  # 127 announced, 7 sent
        packet(0x10, mqtt_bytes("MQTT") + b"\x04\x02\x00\x1e" + b"\xff\xff" + b"abc"),
        packet(0x10, mqtt_bytes("MQTT") + b"\x04\x02\x00\x1e" + mqtt_bytes(b"\xc3\x28")),
        packet(0x10, mqtt_bytes("MQTT") + b"\x04\x02\x00\x1e" + mqtt_bytes("c\u0000d")),
        connect_ok_shape + connect_ok_shape,  # two CONNECTs at once
    ]


def test_broker_survives_a_thousand_connections_sending_junk(junk_stack):
    """1,000 connections each send garbage, truncated or malformed packets:
    the broker stays up, its memory stays bounded (peak and after), and a
    normal pair of users can still connect and chat."""
    baseline = broker_rss_mb(junk_stack)
    variants = junk_variants()
    conns, peak = [], baseline
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", junk_stack.mqtt_port), timeout=WAIT)
            try:
                s.sendall(variants[i % len(variants)])
            except OSError:
                pass  # already closed by the broker: fine
            conns.append(s)
            if i % 100 == 99:
                peak = max(peak, broker_rss_mb(junk_stack))
        peak = max(peak, broker_rss_mb(junk_stack))
        assert_broker_alive(junk_stack)
        assert_raw_chat_still_works(junk_stack)  # while the junk connections are open
    finally:
        for s in conns:
            s.close()
    assert_broker_alive(junk_stack)
    assert_chat_still_works(junk_stack)
    after = broker_rss_mb(junk_stack)
    print(f"junk: broker RSS {baseline:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB")
    assert peak - baseline < RSS_BOUND_MB, f"RSS {baseline:.1f} -> peak {peak:.1f} MB"
    assert after - baseline < RSS_BOUND_MB, f"RSS {baseline:.1f} -> {after:.1f} MB after"


def test_connect_with_an_absurd_remaining_length_is_not_buffered(junk_stack):
    """16 unauthenticated connections announce a CONNECT of 268,435,455
    bytes (the MQTT maximum) and start sending it, 8 MiB each: the broker
    must cut them off instead of holding what they send (it stays up,
    and its RSS grows by less than 50 MB)."""
    baseline = broker_rss_mb(junk_stack)
    conns, sent, peak = [], [0] * 16, baseline
    chunk = b"\x00" * 65536
    try:
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", junk_stack.mqtt_port), timeout=WAIT)
            s.sendall(b"\x10\xff\xff\xff\x7f" + mqtt_bytes("MQTT") + b"\x04\x02\x00\x1e")
            conns.append(s)
        open_ = set(range(16))
        for _ in range(128):  # 8 MiB each
            for i in list(open_):
                try:
                    conns[i].sendall(chunk)
                    sent[i] += len(chunk)
                except OSError:
                    open_.discard(i)  # the broker cut it off
            if not open_:
                break
        peak = max(peak, broker_rss_mb(junk_stack))
        assert_broker_alive(junk_stack)
    finally:
        for s in conns:
            s.close()
    assert_broker_alive(junk_stack)
    assert_chat_still_works(junk_stack)
    assert peak - baseline < RSS_BOUND_MB, (
        f"the broker buffered unauthenticated CONNECT data: RSS {baseline:.1f} -> {peak:.1f} MB "
        f"after {sum(sent) / 2**20:.0f} MiB sent on {len(conns)} connections")


AFTER_CONNECT_JUNK = {
    "publish_qos_3": lambda c: packet(0x36, mqtt_bytes(f"conv/{c}/m") + b"\x00\x01{}"),
    "publish_topic_length_beyond_packet": lambda c: packet(0x32, b"\x7f\xff" + b"conv/"),
    "publish_topic_invalid_utf8": lambda c: packet(0x32, mqtt_bytes(b"conv/\xc3\x28/m")
                                                   + b"\x00\x01{}"),
    "publish_topic_with_nul": lambda c: packet(0x32, mqtt_bytes(f"conv/{c}/m\u0000")
                                               + b"\x00\x01{}"),
    "publish_topic_with_wildcard": lambda c: packet(0x32, mqtt_bytes(f"conv/{c}/#")
                                                    + b"\x00\x01{}"),
    "publish_mid_zero": lambda c: packet(0x32, mqtt_bytes(f"conv/{c}/m") + b"\x00\x00{}"),
    "subscribe_without_filters": lambda c: packet(0x82, b"\x00\x01"),
    "subscribe_bad_flags": lambda c: packet(0x80, b"\x00\x01" + mqtt_bytes("user/x/inbox")
                                            + b"\x01"),
    "subscribe_qos_3": lambda c: packet(0x82, b"\x00\x01" + mqtt_bytes(f"conv/{c}/m") + b"\x03"),
    "second_connect": lambda c: connect_packet("again:x", "u", "p"),
    "reserved_type_0": lambda c: b"\x00\x00",
    "auth_on_mqtt_3": lambda c: b"\xf0\x00",
    "truncated_publish_then_silence": lambda c: packet(0x32, mqtt_bytes(f"conv/{c}/m")
                                                       + b"\x00\x01" + b"{" * 10)[:-5],
    "random_bytes": lambda c: os.urandom(256),
}


@pytest.mark.parametrize("junk", sorted(AFTER_CONNECT_JUNK))
def test_authenticated_client_sending_malformed_packets_gets_nothing_through(junk_stack, junk):
    """A connected member sends a malformed packet on its conversation: it
    is disconnected (or the packet ignored), nothing is delivered or
    stored, and the broker stays up."""
    api, mqtt = junk_stack.api(), junk_stack.mqtt()
    try:
        owner, member = api.register(), api.register()
        conv = api.create_conversation(owner, [member])["id"]
        o = mqtt.connect(owner)
        subscribe_granted(o, f"conv/{conv}/#")
        conn = RawMqtt(junk_stack.mqtt_port)
        try:
            assert conn.connect(f"{member.id}:junk", member.id, member.token) == 0
            conn.send(AFTER_CONNECT_JUNK[junk](conv))
            conn.closed_by_broker(timeout=3)  # bounded: some junk leaves it waiting
        finally:
            conn.close()
        barrier(o, conv, o)
        others = [m for m in o.messages(f"conv/{conv}/#")
                  if not (isinstance(m.json, dict) and m.json.get("from") == owner.id)
                  and "member_" not in m.text]
        assert others == [], others
        rows = junk_stack.sql("SELECT count(*) FROM messages WHERE sender_id = :'u'::uuid",
                              u=member.id)
        assert rows == [["0"]]
    finally:
        mqtt.close_all()
    assert_broker_alive(junk_stack)
