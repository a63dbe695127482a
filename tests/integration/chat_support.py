"""chat_support.py - helpers for the chat, access, auth and durability tests.

The integration tests talk to a real stack (mosquitto with the Parley plugin,
parley-api and PostgreSQL) that conftest.py's session fixture `stack` starts.
This module holds what those tests share:

- `Http`: a tiny JSON client on urllib that returns every answer (errors
  included) as an `HttpAnswer`, so tests can assert on status codes;
- accounts (`Account`, `new_account`) and conversations over the API;
- `Peer`: one MQTT connection (TCP or WebSockets, v3.1.1 or v5) that records
  everything it receives, reports SUBACK codes and, for v5, PUBACK reason
  codes (paho 1.6.1 swallows those, so `_RecordingClient` reads them);
- ack and error bookkeeping for the sender's `user/{me}/inbox`;
- pytest fixtures `http`, `new_user` and `open_peer` (import them into a
  test module to use them); every Peer is disconnected when its test ends.

Nothing here sleeps to assert: every wait polls a condition and is bounded
by a generous timeout.  Negative checks ("nothing arrived") use a barrier:
a later message that must arrive after the one that must not.
"""

import json
import os
import pathlib
import re
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import paho.mqtt.client as mqtt
import pytest

from parley import retry_throttled

WAIT = 60.0  # the bound of every wait for something that should happen
MEMBERSHIP_WAIT = 20.0  # API membership changes reach the broker in ~1 s; a bound, not a pace
PASSWORD = "correct horse battery staple"

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5

# MQTT codes the tests assert on.
CONNACK_NOT_AUTHORIZED = 5  # v3.1.1
RC_BAD_USERNAME_OR_PASSWORD = 134  # v5
RC_NOT_AUTHORIZED = 135  # v5 (CONNACK, PUBACK, SUBACK)
SUBACK_FAILURE = 0x80  # v3.1.1

ID_RE = re.compile(r"^[0-9]{1,20}$")


# ------------------------------------------------------------------ stack


def stack_value(stack, name):
    """Reads one stack.env value from the conftest fixture, whatever its
    shape (attributes, a mapping, or an `env` mapping)."""
    for getter in (
        lambda: getattr(stack, name),
        lambda: stack[name],
        lambda: stack.env[name],
        lambda: getattr(stack, name.lower().replace("parley_", "")),
    ):
        try:
            value = getter()
        except (AttributeError, KeyError, TypeError):
            continue
        if value is not None:
            return value
    raise KeyError(f"the stack fixture has no {name}")


def unique_name(prefix):
    """A fresh username: [A-Za-z0-9_.-]{3,32}."""
    return f"{prefix[:12]}_{uuid.uuid4().hex[:16]}"


def now_ms():
    return int(time.time() * 1000)


def wait_until(condition, timeout=WAIT, what="the condition", interval=0.05):
    """Polls condition() until it returns a true value, which is returned.
    Fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------ HTTP


class HttpAnswer:
    def __init__(self, status, body, headers):
        self.status = status
        self.text = body.decode("utf-8", "replace")
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<HTTP {self.status} {self.text[:300]!r}>"

    def error_code(self):
        """The code of an error envelope, or None."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None


class Http:
    """A JSON client for parley-api that never raises on an HTTP status."""

    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")

    def request(self, method, path, body=None, token=None, raw=None,
                params=None, headers=None, timeout=30):
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        hdrs = {"Accept": "application/json"}
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return HttpAnswer(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as e:
            return HttpAnswer(e.code, e.read(), dict(e.headers))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def expect(answer, *statuses):
    """Asserts answer.status is one of statuses; returns answer.json."""
    assert answer.status in statuses, f"expected HTTP {statuses}, got {answer!r}"
    return answer.json


# ------------------------------------------------------------------ accounts


class Account:
    """A registered, logged-in user."""

    def __init__(self, user, username, password, login):
        self.id = user["id"]
        self.username = username
        self.password = password
        self.user = user
        self.login = login
        self.token = login["access_token"]
        self.refresh_token = login["refresh_token"]

    @property
    def inbox(self):
        return f"user/{self.id}/inbox"

    def __repr__(self):
        return f"<Account {self.username} {self.id}>"


def register(http, username, password=PASSWORD, display_name=None):
    """POST /v1/auth/register; a 429 from the per-address registration
    budget, which a quick run of the whole suite can use up from
    127.0.0.1, is waited out (parley.retry_throttled)."""
    body = {"username": username, "password": password}
    if display_name is not None:
        body["display_name"] = display_name
    return retry_throttled(lambda: http.post("/v1/auth/register", body))


def login(http, username, password=PASSWORD, device=None):
    body = {"username": username, "password": password}
    if device is not None:
        body["device"] = device
    return http.post("/v1/auth/login", body)


def new_account(http, prefix="user"):
    """Registers and logs in a fresh user."""
    username = unique_name(prefix)
    user = expect(register(http, username), 201)
    assert user["username"] == username and user["id"], user
    tokens = expect(login(http, username), 200)
    return Account(user, username, PASSWORD, tokens)


# ------------------------------------------------------------------ conversations


def create_conversation(http, owner, kind, members, title=None):
    """Creates a conversation of owner with the other members (Accounts or
    ids); returns the conversation object."""
    body = {"kind": kind, "members": [getattr(m, "id", m) for m in members]}
    if title is not None:
        body["title"] = title
    conv = expect(http.post("/v1/conversations", body, token=owner.token), 200, 201)
    assert conv["id"], conv
    return conv


def add_member(http, actor, conv_id, member):
    answer = http.post(f"/v1/conversations/{conv_id}/members",
                       {"user": getattr(member, "id", member)}, token=actor.token)
    expect(answer, 201, 204)


def remove_member(http, actor, conv_id, member):
    answer = http.delete(f"/v1/conversations/{conv_id}/members/"
                         f"{getattr(member, 'id', member)}", token=actor.token)
    expect(answer, 200, 204)


def history(http, account, conv_id, **params):
    """GET /v1/conversations/{c}/messages; returns the HttpAnswer."""
    return http.get(f"/v1/conversations/{conv_id}/messages", token=account.token,
                    params={k: v for k, v in params.items() if v is not None})


def history_messages(http, account, conv_id, **params):
    answer = history(http, account, conv_id, **params)
    page = expect(answer, 200)
    assert isinstance(page.get("messages"), list) and "has_more" in page, page
    return page["messages"]


def all_history(http, account, conv_id):
    """Every message of the conversation, newest first, paged by `before`."""
    out, before = [], None
    while True:
        page = expect(history(http, account, conv_id, limit=200, before=before), 200)
        out.extend(page["messages"])
        if not page["has_more"] or not page["messages"]:
            return out
        before = page["messages"][-1]["id"]


def text_message(txn, body, **extra):
    msg = {"txn": txn, "type": "text", "body": body}
    msg.update(extra)
    return json.dumps(msg, ensure_ascii=False).encode("utf-8")


def new_txn(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex}"


# ------------------------------------------------------------------ MQTT


class Received:
    """One message a Peer received."""

    def __init__(self, topic, payload, retain, qos):
        self.topic = topic
        self.payload = payload
        self.retain = retain
        self.qos = qos
        try:
            self.json = json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def __repr__(self):
        return f"<{self.topic} {self.payload[:200]!r}{' retained' if self.retain else ''}>"


class _RecordingClient(mqtt.Client):
    """paho's client, also recording the reason code of every v5 PUBACK
    (paho 1.6.1 parses it but tells nobody).  The code is recorded before
    paho marks the publish complete, so a waiter always finds it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.puback_codes = {}
        self.puback_lock = threading.Lock()

    def _handle_pubackcomp(self, cmd):
        packet = self._in_packet["packet"]
        if cmd == "PUBACK" and len(packet) >= 2:
            (mid,) = struct.unpack("!H", packet[:2])
            code = packet[2] if self._protocol == V5 and len(packet) > 2 else 0
            with self.puback_lock:
                self.puback_codes[mid] = code
        return super()._handle_pubackcomp(cmd)


class Peer:
    """One MQTT connection that records what it receives.

    connect() returns the CONNACK code (0 when accepted; for v5 the reason
    code value), or -1 when the broker closed the connection without one.
    """

    def __init__(self, host, port, client_id, username, password,
                 transport="tcp", protocol=V311):
        self.host, self.port = host, int(port)
        self.protocol = protocol
        self.client_id = client_id
        kwargs = {"client_id": client_id, "protocol": protocol, "transport": transport,
                  "reconnect_on_failure": False}
        if protocol != V5:
            kwargs["clean_session"] = True
        self.client = _RecordingClient(**kwargs)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(100)
        self.cond = threading.Condition()
        self.received = []
        self.connack = None
        self.suback = {}
        self.looping = False
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # -- callbacks (paho's network thread)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        code = rc.value if hasattr(rc, "value") else int(rc)
        with self.cond:
            if self.connack is None:
                self.connack = code
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.received.append(Received(msg.topic, bytes(msg.payload), msg.retain, msg.qos))
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        codes = [g.value if hasattr(g, "value") else int(g) for g in granted]
        with self.cond:
            self.suback[mid] = codes
            self.cond.notify_all()

    # -- connection

    def connect(self, timeout=WAIT):
        if self.protocol == V5:
            self.client.connect(self.host, self.port, keepalive=30, clean_start=True)
        else:
            self.client.connect(self.host, self.port, keepalive=30)
        deadline = time.monotonic() + timeout
        # Drive the socket by hand until CONNACK, so a refused client is
        # never retried by paho's reconnecting loop thread.
        while self.connack is None and time.monotonic() < deadline:
            rc = self.client.loop(timeout=0.1)
            if self.connack is None and rc not in (mqtt.MQTT_ERR_SUCCESS,):
                break
        if self.connack is None:
            self.client.disconnect()
            return -1
        if self.connack != 0:
            self.client.disconnect()
            return self.connack
        self.client.loop_start()
        self.looping = True
        return 0

    def drop(self):
        """Closes the socket without a DISCONNECT packet, as a client that
        lost its network would: the broker then sends the will, if any."""
        if self.looping:
            self.looping = False
            self.client.loop_stop()
            sock = self.client.socket()
            if sock is not None:
                sock.close()

    def close(self):
        """Disconnects; safe to call more than once."""
        if self.looping:
            self.looping = False
            try:
                self.client.disconnect()
            finally:
                self.client.loop_stop()

    # -- subscribe / publish

    def subscribe(self, topic, qos=1, timeout=WAIT):
        """Subscribes and returns the SUBACK code for the filter: the granted
        QoS (0..2), or 0x80 / a v5 reason code >= 0x80 when refused."""
        rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe({topic}) failed locally: {rc}"
        with self.cond:
            ok = self.cond.wait_for(lambda: mid in self.suback, timeout)
            assert ok, f"no SUBACK for {topic} within {timeout} s"
            return self.suback.pop(mid)[0]

    def subscribe_ok(self, *topics, qos=1, timeout=MEMBERSHIP_WAIT):
        """Subscribes to each topic, retrying while the broker refuses: a
        membership made through the API reaches the broker through NOTIFY
        shortly after the HTTP answer (DESIGN.md allows about a second).
        Fails if a subscription is still refused after timeout seconds."""
        for topic in topics:
            deadline = time.monotonic() + timeout
            while True:
                code = self.subscribe(topic, qos)
                if code < 0x80:
                    break
                assert time.monotonic() < deadline, \
                    f"subscription to {topic} still refused after {timeout:.0f} s: {code:#x}"
                time.sleep(0.02)

    def publish(self, topic, payload, qos=1, retain=False, timeout=WAIT):
        """Publishes and, for QoS 1, waits for the PUBACK.  Returns its
        reason code (always 0 for v3.1.1), or None for QoS 0."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish to {topic} failed locally: {info.rc}"
        if qos == 0:
            return None
        info.wait_for_publish(timeout)
        assert info.is_published(), f"no PUBACK for a publish to {topic} within {timeout} s"
        return self.puback_code(info)

    def puback_code(self, info):
        """The PUBACK reason code of a completed QoS 1 publish (0 for v3.1.1)."""
        with self.client.puback_lock:
            return self.client.puback_codes.pop(info.mid, 0)

    def publish_ok(self, topic, payload, qos=1):
        """Publishes with QoS 1 and asserts the broker accepted it (a v5
        PUBACK reason below 0x80, such as 0x10 "no matching subscribers")."""
        code = self.publish(topic, payload, qos=qos)
        assert code < 0x80, f"publish to {topic} refused with reason {code:#x}"

    def publish_nowait(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish to {topic} failed locally: {info.rc}"
        return info

    # -- what arrived

    def messages(self, topic=None):
        with self.cond:
            return [m for m in self.received if topic is None or m.topic == topic]

    def wait_for(self, topic, match=lambda m: True, timeout=WAIT, what=None):
        """Returns the first message on topic for which match(m) is true,
        waiting up to timeout seconds for it."""
        def find():
            for m in self.received:
                if m.topic == topic and match(m):
                    return m
            return None
        with self.cond:
            found = self.cond.wait_for(find, timeout)
            if not found:
                seen = [m for m in self.received if m.topic == topic][-5:]
                pytest.fail(f"{self.client_id}: no {what or 'matching message'} on "
                            f"{topic} within {timeout:.0f} s; last seen: {seen}")
            return found

    def wait_json(self, topic, timeout=WAIT, what=None, **fields):
        """Waits for a JSON object on topic whose fields include `fields`."""
        def match(m):
            return isinstance(m.json, dict) and all(m.json.get(k) == v for k, v in fields.items())
        return self.wait_for(topic, match, timeout, what or f"message with {fields}").json

    def wait_count(self, topic, count, match=lambda m: True, timeout=WAIT):
        with self.cond:
            ok = self.cond.wait_for(
                lambda: sum(1 for m in self.received if m.topic == topic and match(m)) >= count,
                timeout)
            assert ok, f"{self.client_id}: fewer than {count} messages on {topic} within {timeout} s"
            return [m for m in self.received if m.topic == topic and match(m)]

    # -- app-level acks and errors on user/{me}/inbox

    def acks(self, inbox):
        """(conv, txn, id) of every ack item received so far on inbox."""
        out = []
        for m in self.messages(inbox):
            doc = m.json
            if not isinstance(doc, dict) or doc.get("type") != "ack":
                continue
            items = doc["items"] if "items" in doc else [doc]
            out.extend((i.get("conv"), i.get("txn"), i.get("id")) for i in items)
        return out

    def wait_ack(self, inbox, txn, timeout=WAIT):
        """Waits for the ack of txn; returns the id it carries."""
        def find():
            for _conv, t, id_ in self.acks(inbox):
                if t == txn:
                    return id_
            return None
        return wait_until(find, timeout, f"the ack of txn {txn}")

    def errors(self, inbox):
        return [m.json for m in self.messages(inbox)
                if isinstance(m.json, dict) and m.json.get("type") == "error"]

    def wait_error(self, inbox, seen_before, timeout=WAIT):
        """Waits for error number seen_before + 1 on inbox; returns it."""
        errs = wait_until(lambda: len(self.errors(inbox)) > seen_before and self.errors(inbox),
                          timeout, "an error on the inbox")
        return errs[seen_before]


def peer_for(stack, account, device="d1", transport="tcp", protocol=V311,
             username=None, password=None, client_id=None, will=None):
    """A Peer for account (not connected).  username, password and
    client_id override what account would present; will is a dict of
    paho's will_set arguments (topic, payload, qos, retain)."""
    host = stack_value(stack, "PARLEY_MQTT_HOST")
    port = stack_value(stack, "PARLEY_WS_PORT" if transport == "websockets"
                       else "PARLEY_MQTT_PORT")
    peer = Peer(host, port,
                client_id if client_id is not None else f"{account.id}:{device}",
                username if username is not None else account.id,
                password if password is not None else account.token,
                transport=transport, protocol=protocol)
    if will is not None:
        peer.client.will_set(**will)
    return peer


def barrier(sender, sender_account, receiver, conv_id, topic=None):
    """Sends a marker on conv/{conv_id}/m and waits for receiver to get it.

    The broker handles one connection's publishes in order and queues each
    delivery to a subscriber in that order, so whatever sender published
    before the marker and receiver was going to get has arrived once the
    marker has.  Returns the marker's txn."""
    txn = new_txn("marker")
    sender.publish_ok(f"conv/{conv_id}/m", text_message(txn, "marker"))
    receiver.wait_json(topic or f"conv/{conv_id}/m", txn=txn, what="the marker")
    return txn


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def http(stack):
    return Http(stack_value(stack, "PARLEY_HTTP_URL"))


@pytest.fixture
def new_user(http):
    """Factory: new_user(prefix) -> a fresh, logged-in Account."""
    return lambda prefix="user": new_account(http, prefix)


@pytest.fixture
def open_peer(stack):
    """Factory: open_peer(account, ...) -> a connected Peer (asserting the
    connection was accepted) that is disconnected when the test ends.
    subscribe=[topics] subscribes (asserting each was granted)."""
    opened = []

    def _open(account, device=None, transport="tcp", protocol=V311, subscribe=(), will=None):
        peer = peer_for(stack, account, device or f"d{len(opened)}", transport, protocol,
                        will=will)
        opened.append(peer)
        code = peer.connect()
        assert code == 0, f"connection of {account} refused: {code}"
        peer.subscribe_ok(*subscribe)
        return peer

    yield _open
    for peer in opened:
        peer.close()


@pytest.fixture
def try_connect(stack):
    """Factory: try_connect(account, **peer_for overrides) -> the CONNACK
    code (the client is disconnected again either way)."""
    opened = []

    def _try(account, **kw):
        peer = peer_for(stack, account, **kw)
        opened.append(peer)
        return peer.connect(timeout=WAIT)

    yield _try
    for peer in opened:
        peer.close()


# ------------------------------------------------------------------ database and services

REPO = pathlib.Path(__file__).resolve().parents[2]


def psql(stack, sql, **variables):
    """Runs sql (which may use psql variables :'name') against the stack's
    database; returns the unaligned, tuples-only output lines."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        cmd += ["-v", f"{name}={value}"]
    cmd += ["-d", stack_value(stack, "PARLEY_DATABASE_URL"), "-f", "-"]
    done = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"psql failed: {done.stderr.strip()}"
    return [line for line in done.stdout.splitlines() if line]


def stack_dir(stack):
    """The directory of the running stack, or None if the fixture does not
    say (then its services cannot be restarted by a test)."""
    for name in ("dir", "directory", "path", "root", "stack_dir"):
        value = getattr(stack, name, None)
        if value is None and isinstance(stack, dict):
            value = stack.get(name)
        if value and (pathlib.Path(value) / "stack.env").exists():
            return pathlib.Path(value)
    return None


def wait_broker_dropped(stack, client_id, timeout=WAIT):
    """Waits until mosquitto.log says the broker noticed that client_id's
    connection ended (it sends the client's will right after logging it)."""
    log = stack_dir(stack) / "mosquitto.log"
    ends = ("closed its connection", "disconnected", "Socket error", "has exceeded timeout")

    def noticed():
        lines = log.read_text(errors="replace").splitlines()
        starts = [i for i, line in enumerate(lines) if f" as {client_id} " in line]
        return starts and any(f"Client {client_id} " in line and any(e in line for e in ends)
                              for line in lines[starts[-1]:])
    wait_until(noticed, timeout, f"the broker to notice that {client_id} is gone")


def stack_service(stack, action, service, kill=False):
    """scripts/stack start|stop broker|api|db for the test stack (through the
    fixture's own methods when it has them)."""
    if action == "stop" and hasattr(stack, "stop"):
        return stack.stop(service, kill=kill)
    if action == "start" and hasattr(stack, "start_service"):
        return stack.start_service(service)
    directory = stack_dir(stack)
    assert directory is not None, "the stack fixture does not name its directory"
    cmd = [str(REPO / "scripts" / "stack"), action, service, "--dir", str(directory)]
    if kill:
        cmd.append("--kill")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ))
    assert done.returncode == 0, (f"{' '.join(cmd[1:3])} failed ({done.returncode}): "
                                  f"{done.stdout}\n{done.stderr}")
