"""live_support.py - helpers for test_live.py (typing, receipts, devices,
presence, token lifetime, rate limits and revocation).

  Room            users in one group conversation, with connected clients
                  subscribed to conv/{c}/# and their own inbox
  open_room()     makes one (through the API and MQTT of a stack)
  tuned stack     a private stack with short presence grace, no token leeway
                  and a small rate limit (see TUNED_PLUGIN_OPTS), started once
                  per module and always stopped
  mint_token()    an HS256 access token signed with a stack's jwt.secret
  id_at()         a message id minted at a given time (DESIGN.md, "Ids")

Like parley.py, nothing here sleeps to make something happen: waits poll a
condition and are bounded.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import conftest
import parley
from parley import WaitTimeout, wait_for

ID_EPOCH_MS = 1704067200000  # 2024-01-01T00:00:00Z
ID_TIME_SHIFT = 22  # 10 bits of node id and 12 bits of sequence

SUBACK_REFUSED = 0x80
PUBACK_NOT_AUTHORIZED = 0x87
CONNACK_REFUSED = (4, 5)  # bad user name or password, not authorized

# The private stack's plugin settings: a presence grace short enough to wait
# for and long enough for a local reconnect, no token leeway, and a small
# message bucket.
TUNED_GRACE_MS = 1500
TUNED_RATE_PER_S = 5
TUNED_RATE_BURST = 20
TUNED_PLUGIN_OPTS = {
    "presence_grace_ms": TUNED_GRACE_MS,
    "jwt_leeway": 0,
    "rate_per_s": TUNED_RATE_PER_S,
    "rate_burst": TUNED_RATE_BURST,
}


def now_ms():
    return int(time.time() * 1000)


def id_at(unix_ms):
    """The smallest message id minted at unix_ms (node 0, sequence 0)."""
    return str((int(unix_ms) - ID_EPOCH_MS) << ID_TIME_SHIFT)


def id_time_ms(message_id):
    """The unix time in ms in a message id."""
    return (int(message_id) >> ID_TIME_SHIFT) + ID_EPOCH_MS


# ------------------------------------------------------------------ tokens


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def stack_jwt_secret(stack):
    """The HS256 secret both the broker and the API use (DIR/jwt.secret,
    surrounding whitespace removed as the plugin does)."""
    return (Path(stack.dir) / "jwt.secret").read_bytes().strip()


def mint_token(secret, sub, exp, iat=None, role="user", **extra):
    """An access token like parley-api's: HS256 over iss, aud, sub, role,
    iat, exp and jti (extra claims added or replaced)."""
    iat = int(time.time()) if iat is None else iat
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": "parley", "aud": "parley", "sub": sub, "role": role,
              "iat": int(iat), "exp": int(exp), "jti": secrets.token_hex(16)}
    claims.update(extra)
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


# ------------------------------------------------------------------ MQTT


def subscribe_when_allowed(client, topic, qos=1, timeout=None):
    """Subscribes, retrying while the broker refuses: a membership made over
    HTTP reaches the broker's cache a moment after the API answers.
    Returns the granted QoS."""
    def attempt():
        granted = client.subscribe(topic, qos)[0]
        return granted + 1 if granted < SUBACK_REFUSED else None

    return wait_for(attempt, timeout, f"{client.client_id} to be allowed {topic}",
                    interval=0.05) - 1


def received_json(client, topic, match=None):
    """The JSON payloads client received on topic (optionally only those of
    which match is a subset), oldest first."""
    return [m.json for m in client.messages(topic, match)]


def inbox_outcomes(client):
    """{txn: [("ack"|"error", item), ...]} from everything on the client's
    inbox so far (acks may be batched in {"type":"ack","items":[...]})."""
    out = {}
    for m in client.messages(client.inbox_topic):
        data = m.json
        if not isinstance(data, dict) or data.get("type") not in ("ack", "error"):
            continue
        for item in data.get("items") or [data]:
            if isinstance(item, dict) and isinstance(item.get("txn"), str):
                out.setdefault(item["txn"], []).append((data["type"], item))
    return out


def wait_outcomes(client, txns, timeout=None):
    """Waits until every txn has an ack or an error on the client's inbox;
    returns inbox_outcomes()."""
    def settled():
        outcomes = inbox_outcomes(client)
        return outcomes if all(t in outcomes for t in txns) else None

    return wait_for(settled, timeout, f"an ack or error for each of {len(txns)} messages")


def inbox_errors(client):
    """The error notices on the client's inbox so far."""
    return received_json(client, client.inbox_topic, {"type": "error"})


def flood(client, topic, payloads, qos):
    """Publishes every payload as fast as paho can, without waiting for the
    broker in between (no client-side in-flight window).  Returns the paho
    MQTTMessageInfo of each."""
    client.paho.max_inflight_messages_set(0)  # 0: unlimited
    return [client.publish(topic, p, qos=qos, wait=False) for p in payloads]


# ------------------------------------------------------------------ rooms


class Room:
    """A group conversation and its members.

    room.conv            the conversation id
    room.users[name]     each member's Account
    room.client(name, device="d1")
                         that member's connected client (client id
                         "<user id>:<device>"), subscribed to conv/{c}/# and
                         its own inbox
    room.topic(leaf)     conv/{c}/<leaf>
    """

    def __init__(self, api, mqtt, conv, users):
        self.api, self.mqtt = api, mqtt
        self.conv = conv
        self.users = users
        self.clients = {}

    def topic(self, leaf):
        return f"conv/{self.conv}/{leaf}"

    def connect(self, name, device="d1", subscribe=True, **kw):
        """Connects another device of a member (subscribed like the others
        unless subscribe=False) and returns its client."""
        client = self.mqtt.connect(self.users[name], device=device, **kw)
        if subscribe:
            subscribe_when_allowed(client, f"conv/{self.conv}/#")
            client.ensure_inbox()
        self.clients[(name, device)] = client
        return client

    def client(self, name, device="d1"):
        return self.clients[(name, device)]

    def send(self, name, body="hi", device="d1"):
        """A member sends a text message and waits for its ack; returns the
        message id."""
        return self.client(name, device).send_and_ack(self.conv, body)["id"]


def open_room(api, mqtt, devices, kind="group"):
    """Registers one user per key of devices (a dict name -> list of device
    names), puts them all in one conversation created by the first, and
    connects the listed devices.  Returns the Room."""
    names = list(devices)
    users = {name: api.register(parley.unique_name(name)) for name in names}
    conv = api.create_conversation(users[names[0]], [users[n] for n in names[1:]], kind=kind)
    room = Room(api, mqtt, conv["id"], users)
    for name in names:
        for device in devices[name]:
            room.connect(name, device)
    return room


# ------------------------------------------------------------------ database


def message_rows(stack, conv):
    """[(txn, sender id, id)] of the messages stored in conv."""
    rows = stack.sql("SELECT txn, sender_id::text, id::text FROM messages"
                     " WHERE conv_id = :'c' ORDER BY id", c=conv)
    return [tuple(r) for r in rows]


def receipt_row(stack, conv, user, kind):
    """(up_to, ts in ms, seq) of a user's stored pointer, or None."""
    rows = stack.sql("SELECT up_to::text, (extract(epoch FROM ts) * 1000)::bigint::text,"
                     " seq::text FROM receipts"
                     " WHERE conv_id = :'c' AND user_id = :'u' AND kind = :'k'",
                     c=conv, u=user, k=kind)
    return tuple(rows[0]) if rows else None


def receipt_rows(stack, conv):
    """{(user id, kind): up_to} of every pointer stored for conv."""
    rows = stack.sql("SELECT user_id::text, kind, up_to::text FROM receipts"
                     " WHERE conv_id = :'c'", c=conv)
    return {(u, k): up for u, k, up in rows}


def last_seen_ms(stack, user):
    """users.last_seen of user in unix ms, or None."""
    rows = stack.sql("SELECT (extract(epoch FROM last_seen) * 1000)::bigint::text"
                     " FROM users WHERE id = :'u'", u=user)
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


# ------------------------------------------------------------------ private stack


def _plugin_opts_text(opts):
    return "\n".join(f"plugin_opt_{k} {v}" for k, v in opts.items())


def private_stack(request, plugin_opts=None, api_args=None, prefix="parley-live-"):
    """Starts a private stack with extra plugin options (a dict, without the
    plugin_opt_ prefix) and parley-api arguments; yields it and always stops
    it.  Its directory is kept (and named in the summary) if a test failed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = parley.stack_environment()
    if plugin_opts:
        env["PARLEY_PLUGIN_OPTS"] = _plugin_opts_text(plugin_opts)
    if api_args:
        env["PARLEY_API_ARGS"] = api_args
    failed_before = request.session.testsfailed
    try:
        s = conftest.start_stack(tmp / "stack", run_env=env)
    except parley.StackError as e:
        pytest.fail(f"could not start a private stack in {tmp}:\n{e}", pytrace=False)
    try:
        yield s
    finally:
        s.down()
        conftest.forget_stack(s)
        failed = request.session.testsfailed > failed_before
        reports = s.sanitizer_reports()
        keep = failed or reports or os.environ.get("PARLEY_KEEP_STACK") == "1"
        if keep:
            report = getattr(conftest, "_REPORT", None)
            if report is not None:
                report.append(f"private stack directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if reports:
            pytest.fail("sanitizer reports in the private stack's logs:\n"
                        + "\n".join(reports[:50]), pytrace=False)


def assert_stays_false(predicate, timeout, what):
    """Fails unless predicate() stays false for timeout seconds (for what
    must not happen within a documented window)."""
    try:
        value = wait_for(predicate, timeout, what)
    except WaitTimeout:
        return
    raise AssertionError(f"unexpected: {what}: {value!r}")
