"""parley.py - helpers for Parley's integration tests.

  Stack   a running scripts/stack: its settings, logs, processes and database
  Api     parley-api over HTTP (urllib only): request() and auth shortcuts
  Mqtt    connected paho-mqtt 1.6.1 clients with a thread-safe record of
          what they receive, and waits for SUBACK, PUBACK and app-level acks

Nothing here sleeps a fixed time to let something happen: every wait polls a
condition and the timeout only bounds how long a test waits for what should
happen (PARLEY_TEST_TIMEOUT seconds by default, 20: generous for a slow or
loaded machine, and free when things work).  To show that something
does *not* happen, prefer a sentinel: publish something that must arrive
after it, wait for that, then check.

Typical use, with the fixtures of conftest.py:

    def test_chat(api, mqtt):
        alice, bob = api.register(), api.register()
        conv = api.create_conversation(alice, [bob])
        b = mqtt.connect(bob)
        b.subscribe(f"conv/{conv['id']}/m")
        a = mqtt.connect(alice)
        ack = a.send_and_ack(conv["id"], "hi")
        msg = b.wait_message(f"conv/{conv['id']}/m", {"id": ack["id"]})
        assert msg.json["body"] == "hi"
"""

import base64
import json as jsonlib
import os
import random
import re
import secrets
import shlex
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack"
DEFAULT_TIMEOUT = float(os.environ.get("PARLEY_TEST_TIMEOUT", "20"))

MQTTv31 = paho.MQTTv31
MQTTv311 = paho.MQTTv311
MQTTv5 = paho.MQTTv5

STACK_VARIABLES = (
    "PARLEY_MQTT_HOST",
    "PARLEY_MQTT_PORT",
    "PARLEY_WS_PORT",
    "PARLEY_HTTP_URL",
    "PARLEY_DATABASE_URL",
    "PARLEY_ADMIN_USER",
    "PARLEY_ADMIN_PASSWORD",
)

# Lines in a log that mean a sanitizer found a bug.
SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: |"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer)"
)


# ---------------------------------------------------------------- waiting


class WaitTimeout(AssertionError):
    """A wait_for() (or a wait built on it) ran out of time."""


def wait_for(predicate, timeout=None, what=None, interval=0.005):
    """Polls predicate() until it returns something truthy and returns that.

    Raises WaitTimeout after timeout seconds (DEFAULT_TIMEOUT by default);
    what names the awaited thing in the message.  The poll interval grows
    from 5 ms to 100 ms, so a quick condition costs little.
    """
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for "
                f"{what or getattr(predicate, '__name__', 'a condition')}"
            )
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def unique_name(prefix="u"):
    """A fresh username (fits ^[A-Za-z0-9_.-]{3,32}$)."""
    return f"{prefix}_{secrets.token_hex(6)}"


def new_txn():
    """A fresh client transaction id for a chat message."""
    return "t" + secrets.token_hex(8)


def jwt_claims(token):
    """The claims of a JWT (or an Account's access token), decoded without
    checking the signature."""
    payload = _token(token).split(".")[1]
    return jsonlib.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _json_subset(expected, actual):
    """True if every key of expected is in actual with a matching value
    (recursively for dicts)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _json_subset(v, actual[k]) for k, v in expected.items()
        )
    return expected == actual


def _user_id(user):
    return user["id"] if isinstance(user, dict) else user


def _token(user):
    return user["access_token"] if isinstance(user, dict) else user


# ---------------------------------------------------------------- HTTP


class Response(tuple):
    """(status, json, headers) of one HTTP exchange.

    Unpacks as a 3-tuple; also has .status, .json (parsed body or None),
    .headers (case-insensitive), .body (raw bytes) and .error_code (the
    "code" of an {"error": {...}} body, or None).
    """

    def __new__(cls, status, data, headers, body=b""):
        self = super().__new__(cls, (status, data, headers))
        self.body = body
        return self

    status = property(lambda self: self[0])
    json = property(lambda self: self[1])
    headers = property(lambda self: self[2])

    @property
    def error_code(self):
        data = self.json
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return data["error"].get("code")
        return None

    def __repr__(self):
        body = self.body[:300].decode("utf-8", "replace")
        return f"<Response {self.status} {body!r}>"


class ApiError(AssertionError):
    """An API call answered with a status the caller did not expect."""

    def __init__(self, method, path, response, expected):
        self.response = response
        self.status = response.status
        super().__init__(
            f"{method} {path}: expected {expected}, got {response.status}: "
            f"{response.body[:500].decode('utf-8', 'replace')}"
        )


def retry_throttled(send, enabled=True, attempts=30):
    """send() (an HTTP exchange returning an answer with .status and
    .headers) until it is not 429, sleeping Retry-After seconds in between.

    For registrations made only as a test's setup: all come from
    127.0.0.1, whose registration budget (300, then 2 a second) a quick
    run of the whole suite can use up.  Tests of the throttle itself send
    their own requests."""
    answer = send()
    for _ in range(attempts if enabled else 0):
        if answer.status != 429:
            break
        headers = {k.lower(): v for k, v in dict(answer.headers or {}).items()}
        try:
            wait = float(headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        time.sleep(min(max(wait, 0.1), 10.0))
        answer = send()
    return answer


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as the response itself


class Account(dict):
    """A logged-in user: a dict with id, username, password, user,
    access_token, refresh_token, expires_in; keys are also attributes, and
    .token is the access token."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def token(self):
        return self["access_token"]


class Api:
    """parley-api at base_url (http://127.0.0.1:port)."""

    def __init__(self, base_url, timeout=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def request(self, method, path, token=None, json=None, raw_body=None,
                headers=None, params=None, timeout=None):
        """Sends one request and returns a Response (status, json, headers).

        token: an access token (or an Account) for Authorization: Bearer.
        json: a value sent as JSON; raw_body: bytes or str sent as they are,
        with Content-Type application/json unless headers say otherwise.
        headers: extra headers; a None value removes one.  params: query
        parameters.  Never raises for an HTTP status; does for no answer.
        """
        if json is not None and raw_body is not None:
            raise ValueError("json and raw_body are exclusive")
        url = path if path.startswith("http") else self.base_url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        hdrs = {"Accept": "application/json"}
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw_body is not None:
            body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + _token(token)
        for name, value in (headers or {}).items():
            for old in [h for h in hdrs if h.lower() == name.lower()]:
                del hdrs[old]
            if value is not None:
                hdrs[name] = value
        req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
        try:
            with self._opener.open(req, timeout=timeout or self.timeout) as resp:
                status, rheaders, data = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rheaders, data = e.code, e.headers, e.read()
            e.close()
        parsed = None
        if data:
            try:
                parsed = jsonlib.loads(data)
            except ValueError:
                parsed = None
        return Response(status, parsed, rheaders, data)

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, token=None, **kw):
        return self.request("POST", path, token=token, **kw)

    def put(self, path, token=None, **kw):
        return self.request("PUT", path, token=token, **kw)

    def patch(self, path, token=None, **kw):
        return self.request("PATCH", path, token=token, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token=token, **kw)

    def call(self, method, path, expect=(200, 201, 204), **kw):
        """request(), but returns the parsed body and raises ApiError unless
        the status is in expect (a status or a tuple of them).  With
        retry_throttled=True a 429 is waited out (see retry_throttled())."""
        expect = (expect,) if isinstance(expect, int) else tuple(expect)
        retry = kw.pop("retry_throttled", False)
        resp = retry_throttled(lambda: self.request(method, path, **kw), retry)
        if resp.status not in expect:
            raise ApiError(method, path, resp, expect)
        return resp.json

    # -- auth

    def register(self, username=None, password=None, display_name=None, device=None):
        """Registers a new user (a unique name unless given), logs it in and
        returns its Account."""
        username = username or unique_name()
        password = password or "pw-" + secrets.token_hex(8)
        body = {"username": username, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        user = self.call("POST", "/v1/auth/register", expect=201, json=body,
                         retry_throttled=True)
        account = self.login(username, password, device=device)
        account.setdefault("user", user)
        return account

    def login(self, username, password, device=None):
        """Logs in; returns an Account (the login answer plus id, username
        and password)."""
        body = {"username": username, "password": password}
        if device is not None:
            body["device"] = device
        data = self.call("POST", "/v1/auth/login", expect=200, json=body)
        return Account(data, id=data["user"]["id"], username=username, password=password)

    def refresh(self, refresh_token):
        """Exchanges a refresh token (or an Account's, which is updated in
        place); returns the answer."""
        account = refresh_token if isinstance(refresh_token, dict) else None
        rt = account["refresh_token"] if account is not None else refresh_token
        data = self.call("POST", "/v1/auth/refresh", expect=200, json={"refresh_token": rt})
        if account is not None:
            account.update(data)
        return data

    def fresh(self, account, min_left=300):
        """Returns account (an Account), first refreshed in place if its
        access token expires within min_left seconds: for accounts a
        module-scoped fixture keeps, which on a slow machine may outlive
        the API's 15-minute access tokens."""
        if jwt_claims(account)["exp"] - time.time() < min_left:
            self.refresh(account)
        return account

    def logout(self, token, refresh_token=None, everywhere=False):
        """Logs out (token: an access token or an Account, whose refresh
        token is sent unless refresh_token is given)."""
        body = {}
        if refresh_token is None and isinstance(token, dict):
            refresh_token = token.get("refresh_token")
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        if everywhere:
            body["everywhere"] = True
        self.call("POST", "/v1/auth/logout", expect=204, token=token, json=body)

    # -- conversations

    def create_conversation(self, owner, members, kind="group", title=None):
        """Creates a conversation as owner (an Account or token) with members
        (Accounts or user ids); returns the conversation object."""
        body = {"kind": kind, "members": [_user_id(m) for m in members]}
        if title is not None:
            body["title"] = title
        return self.call("POST", "/v1/conversations", expect=(200, 201), token=owner, json=body)


# ---------------------------------------------------------------- MQTT


class Message:
    """One message a client received."""

    __slots__ = ("topic", "payload", "qos", "retain", "properties", "_json")

    def __init__(self, topic, payload, qos, retain, properties=None):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self._json = Ellipsis

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    @property
    def json(self):
        """The payload parsed as JSON, or None if it is not JSON."""
        if self._json is Ellipsis:
            try:
                self._json = jsonlib.loads(self.payload)
            except ValueError:
                self._json = None
        return self._json

    def __repr__(self):
        flags = " retained" if self.retain else ""
        return f"<Message {self.topic} q{self.qos}{flags} {self.payload[:200]!r}>"


class MqttError(AssertionError):
    """An MQTT operation failed."""


class MqttRefused(MqttError):
    """The broker refused a connection; .rc is the CONNACK code (None if the
    connection closed without one)."""

    def __init__(self, rc, detail=""):
        self.rc = rc
        super().__init__(f"connection refused: rc={rc} {detail}".rstrip())


class MqttDisconnected(MqttError):
    """The connection closed while waiting; .rc as on_disconnect gave it."""

    def __init__(self, rc, waiting_for):
        self.rc = rc
        super().__init__(f"disconnected (rc={rc}) while waiting for {waiting_for}")


class _PahoClient(paho.Client):
    """paho's client, also recording the reason code of each PUBACK/PUBREC
    (paho 1.6.1 parses it for MQTT v5 but does not pass it on)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pub_reasons = {}

    def _record_reason(self):
        try:
            packet = self._in_packet["packet"]
            mid = struct.unpack("!H", packet[:2])[0]
            self.pub_reasons[mid] = packet[2] if len(packet) > 2 else 0
        except Exception:  # never break paho's reader over a diagnostic
            pass

    def _handle_pubackcomp(self, cmd):
        if cmd == "PUBACK":
            self._record_reason()
        return super()._handle_pubackcomp(cmd)

    def _handle_pubrec(self):
        self._record_reason()
        return super()._handle_pubrec()


def _rc_int(rc):
    return rc if isinstance(rc, int) or rc is None else getattr(rc, "value", rc)


class MqttClient:
    """One MQTT connection, driven by paho's network thread.

    Everything received is kept in arrival order (see messages(),
    wait_message()); subscribe() and publish() wait for the broker's answer.
    Use connect() or Mqtt.connect() to make one.
    """

    def __init__(self, host, port, client_id, username=None, password=None,
                 transport="tcp", protocol=MQTTv311, clean=True, keepalive=60,
                 will=None, properties=None, ws_path="/mqtt", user_id=None,
                 timeout=None):
        self.host, self.port = host, port
        self.client_id = client_id
        self.user_id = user_id if user_id is not None else username
        self.protocol = protocol
        self.transport = transport
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self._clean = clean
        self._keepalive = keepalive
        self._connect_properties = properties
        self._cond = threading.Condition()
        self._messages = []
        self._subacks = {}
        self._unsubacks = set()
        self._published = {}
        self._connack = None  # (rc, flags, properties)
        self._connected = False
        self._disconnect_rc = Ellipsis  # Ellipsis: still connected or never
        self._closed = False
        self._inbox_subscribed = False
        self.paho = _PahoClient(
            client_id=client_id,
            clean_session=None if protocol == MQTTv5 else clean,
            protocol=protocol,
            transport=transport,
            reconnect_on_failure=False,
        )
        if transport == "websockets":
            self.paho.ws_set_options(path=ws_path)
        if username is not None:
            self.paho.username_pw_set(username, password)
        if will is not None:
            will = dict(will)
            if isinstance(will.get("payload"), (dict, list)):
                will["payload"] = jsonlib.dumps(will["payload"])
            self.paho.will_set(**will)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_publish = self._on_publish

    # -- paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self._cond:
            self._connack = (_rc_int(rc), flags, properties)
            self._connected = _rc_int(rc) == 0
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self._cond:
            self._connected = False
            self._disconnect_rc = _rc_int(rc)
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg):
        topic = msg._topic.decode("utf-8", "replace")
        m = Message(topic, bytes(msg.payload), msg.qos, bool(msg.retain),
                    getattr(msg, "properties", None))
        with self._cond:
            self._messages.append(m)
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._cond:
            self._subacks[mid] = [_rc_int(g) for g in granted]
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, *rest):
        with self._cond:
            self._unsubacks.add(mid)
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self._cond:
            self._published[mid] = self.paho.pub_reasons.pop(mid, 0)
            self._cond.notify_all()

    # -- waiting

    def _wait(self, predicate, timeout, what, while_connected=True):
        """Waits under the lock until predicate() is truthy; returns it.
        Raises MqttDisconnected if the connection closes first (when
        while_connected), WaitTimeout after timeout."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                if while_connected and self._disconnect_rc is not Ellipsis:
                    raise MqttDisconnected(self._disconnect_rc, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    state = ""
                    if self._disconnect_rc is not Ellipsis:
                        state = f" (the connection closed, rc={self._disconnect_rc})"
                    raise WaitTimeout(f"{self.client_id}: timed out after {timeout:g}s "
                                      f"waiting for {what}{state}")
                self._cond.wait(left)

    # -- connection

    def connect(self, timeout=None):
        """Connects and waits for CONNACK.  Returns 0, or raises MqttRefused
        with the broker's code."""
        kwargs = {}
        if self.protocol == MQTTv5:
            kwargs["clean_start"] = self._clean
            if self._connect_properties is not None:
                kwargs["properties"] = self._connect_properties
        self.paho.connect(self.host, self.port, keepalive=self._keepalive, **kwargs)
        self.paho.loop_start()
        try:
            self._wait(lambda: self._connack is not None or self._disconnect_rc is not Ellipsis,
                       timeout, "CONNACK", while_connected=False)
        except WaitTimeout:
            self.close()
            raise
        rc = self._connack[0] if self._connack is not None else None
        if rc != 0:
            self.close()
            raise MqttRefused(rc, paho.connack_string(rc) if isinstance(rc, int) and
                              self.protocol != MQTTv5 else "")
        return 0

    @property
    def connected(self):
        with self._cond:
            return self._connected

    @property
    def session_present(self):
        return bool(self._connack and self._connack[1].get("session present"))

    @property
    def disconnect_rc(self):
        """on_disconnect's rc, or None while connected."""
        with self._cond:
            return None if self._disconnect_rc is Ellipsis else self._disconnect_rc

    def wait_disconnected(self, timeout=None):
        """Waits until the broker closes the connection; returns the rc."""
        self._wait(lambda: self._disconnect_rc is not Ellipsis, timeout,
                   "the broker to close the connection", while_connected=False)
        return self._disconnect_rc

    def disconnect(self, timeout=None):
        """Sends DISCONNECT (a clean close: no will) and stops the network
        thread.  Safe to call twice or after the broker closed it."""
        if self._closed:
            return
        if self.connected:
            self.paho.disconnect()
            try:
                self._wait(lambda: self._disconnect_rc is not Ellipsis, timeout,
                           "DISCONNECT", while_connected=False)
            except WaitTimeout:
                pass
        self.close()

    def close(self):
        """Stops the network thread and drops the socket without DISCONNECT
        (unlike disconnect(), a will message is published)."""
        if self._closed:
            return
        self._closed = True
        sock = self.paho.socket()
        sock = getattr(sock, "_socket", sock)  # under a WebsocketWrapper
        if sock is not None and self.connected:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.paho.loop_stop()
        try:
            self.paho._sock_close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.disconnect()

    # -- subscribe / publish

    def subscribe(self, topic, qos=1, timeout=None, options=None, properties=None):
        """Subscribes and waits for SUBACK.  topic is a filter or a list of
        (filter, qos) pairs.  Returns the granted codes as ints (0-2 granted,
        >= 0x80 refused), one per filter."""
        if isinstance(topic, str):
            if self.protocol == MQTTv5 and options is not None:
                rc, mid = self.paho.subscribe(topic, options=options, properties=properties)
            else:
                rc, mid = self.paho.subscribe(topic, qos, properties=properties)
        else:
            rc, mid = self.paho.subscribe(list(topic), properties=properties)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise MqttError(f"subscribe {topic}: {paho.error_string(rc)}")
        return self._wait(lambda: self._subacks.pop(mid, None), timeout, f"SUBACK for {topic}")

    def unsubscribe(self, topic, timeout=None):
        rc, mid = self.paho.unsubscribe(topic)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise MqttError(f"unsubscribe {topic}: {paho.error_string(rc)}")
        self._wait(lambda: mid in self._unsubacks, timeout, f"UNSUBACK for {topic}")

    def publish(self, topic, payload=b"", qos=1, retain=False, properties=None,
                wait=True, timeout=None):
        """Publishes; payload may be bytes, str or a JSON-able dict/list.

        With wait, waits for PUBACK (QoS 1), PUBCOMP (QoS 2) or the write
        (QoS 0) and returns the broker's reason code: 0 for success and for
        every MQTT 3.1.1 PUBACK, >= 0x80 for a refusal to a v5 client.
        Raises MqttDisconnected if the broker closes the connection first.
        Without wait, returns the paho MQTTMessageInfo.
        """
        if isinstance(payload, (dict, list)):
            payload = jsonlib.dumps(payload)
        info = self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise MqttError(f"publish to {topic}: {paho.error_string(info.rc)}")
        if not wait:
            return info
        return self.wait_puback(info.mid, timeout, what=f"PUBACK for {topic} (mid {info.mid})")

    def wait_puback(self, mid, timeout=None, what=None):
        """Waits for the PUBACK (QoS 1) or PUBCOMP (QoS 2) of the publish
        with message id mid (e.g. from publish(wait=False).mid) and returns
        its reason code, as publish() does."""
        self._wait(lambda: mid in self._published, timeout, what or f"PUBACK for mid {mid}")
        with self._cond:
            return self._published.pop(mid)

    # -- received messages

    def messages(self, topic=None, match=None):
        """The messages received so far, oldest first, on topic (a filter
        with + and # allowed) and matching match (see wait_message)."""
        with self._cond:
            return [m for m in self._messages if self._matches(m, topic, match)]

    @staticmethod
    def _matches(m, topic, match):
        if topic is not None and not paho.topic_matches_sub(topic, m.topic):
            return False
        if match is None:
            return True
        if callable(match):
            return bool(match(m))
        return _json_subset(match, m.json)

    def wait_message(self, topic=None, match=None, timeout=None):
        """Waits for a message on topic matching match and returns the first
        one (received before the call or after).  match is None, a dict that
        must be a subset of the JSON payload, or a callable on Message."""
        def first():
            return next((m for m in self._messages if self._matches(m, topic, match)), None)

        what = f"a message on {topic or 'any topic'}"
        if match is not None:
            what += f" matching {match!r}"
        return self._wait(first, timeout, what, while_connected=False)

    def wait_messages(self, topic=None, count=1, match=None, timeout=None):
        """Waits until count messages match; returns them all."""
        def enough():
            found = [m for m in self._messages if self._matches(m, topic, match)]
            return found if len(found) >= count else None

        return self._wait(enough, timeout, f"{count} messages on {topic or 'any topic'}",
                          while_connected=False)

    def assert_no_message(self, topic=None, match=None, within=0.3):
        """Fails if a matching message arrives within `within` seconds.  A
        sentinel that must arrive afterwards is the better proof."""
        try:
            m = self.wait_message(topic, match, timeout=within)
        except WaitTimeout:
            return
        raise AssertionError(f"{self.client_id}: unexpected {m!r}")

    def clear(self):
        """Forgets the messages received so far."""
        with self._cond:
            self._messages.clear()

    # -- Parley conventions

    @property
    def inbox_topic(self):
        return f"user/{self.user_id}/inbox"

    def ensure_inbox(self, timeout=None):
        """Subscribes to the user's inbox (acks, errors) once."""
        if not self._inbox_subscribed:
            granted = self.subscribe(self.inbox_topic, 1, timeout=timeout)
            if granted[0] >= 0x80:
                raise MqttError(f"inbox subscription refused: {granted}")
            self._inbox_subscribed = True

    def send(self, conv, body="hi", txn=None, type="text", qos=1, check=True,
             timeout=None, **fields):
        """Publishes a chat message to conv/{conv}/m and returns its txn.
        Subscribes to the inbox first so the ack cannot be missed.  With
        check, a PUBACK refusal raises MqttError."""
        self.ensure_inbox(timeout)
        txn = new_txn() if txn is None else txn
        payload = {"txn": txn, "type": type}
        if body is not None and type in ("text", "media"):
            payload["body"] = body
        payload.update(fields)
        rc = self.publish(f"conv/{_user_id(conv)}/m", payload, qos=qos, timeout=timeout)
        if check and qos > 0 and rc >= 0x80:
            raise MqttError(f"message {txn} refused with PUBACK reason {rc:#x}")
        return txn

    def _inbox_item(self, kind, txn):
        for m in self._messages:
            if m.topic != self.inbox_topic or not isinstance(m.json, dict):
                continue
            data = m.json
            if data.get("type") != kind:
                continue
            for item in data.get("items") or [data]:
                if isinstance(item, dict) and item.get("txn") == txn:
                    return dict({"type": kind}, **item)
        return None

    def wait_ack(self, txn, timeout=None):
        """Waits for the ack of txn on the inbox (single or batched) and
        returns it as {"type":"ack","conv","txn","id"}.  Raises MqttError if
        an error about txn arrives instead."""
        self._wait(lambda: self._inbox_item("ack", txn) or self._inbox_item("error", txn),
                   timeout, f"the ack of {txn}", while_connected=False)
        with self._cond:
            ack = self._inbox_item("ack", txn)
            if ack is None:
                raise MqttError(f"message {txn} refused: {self._inbox_item('error', txn)}")
            return ack

    def wait_error(self, txn, timeout=None):
        """Waits for the error about txn on the inbox and returns it."""
        return self._wait(lambda: self._inbox_item("error", txn), timeout,
                          f"the error about {txn}", while_connected=False)

    def send_and_ack(self, conv, body="hi", **kw):
        """send() and wait_ack(); returns the ack (its "id" is the message
        id)."""
        timeout = kw.get("timeout")
        return self.wait_ack(self.send(conv, body, **kw), timeout=timeout)

    def __repr__(self):
        state = "connected" if self.connected else "not connected"
        return f"<MqttClient {self.client_id} {self.transport} {state}>"


_PASSWORD_IS_TOKEN = object()


def connect(user, token=None, device="d1", transport="tcp", protocol=MQTTv311,
            host="127.0.0.1", port=None, ws_port=None, client_id=None,
            username=None, password=_PASSWORD_IS_TOKEN, **kw):
    """Connects as user (an Account, or a user id with token) and returns a
    connected MqttClient with its network thread running.

    By default username = user id, password = access token and client id =
    "<user id>:<device>"; client_id, username and password override them
    (password=None sends none).  transport is "tcp" (port) or "websockets"
    (ws_port).  Other keywords go to MqttClient (clean, keepalive, will,
    properties, timeout).  Raises MqttRefused if the broker says no.
    """
    user_id = _user_id(user)
    if token is None and isinstance(user, dict):
        token = user["access_token"]
    if password is _PASSWORD_IS_TOKEN:
        password = token
    if transport == "websockets":
        port = ws_port
    if port is None:
        raise ValueError(f"no port for transport {transport}")
    client = MqttClient(
        host, int(port),
        client_id=client_id if client_id is not None else f"{user_id}:{device}",
        username=username if username is not None else user_id,
        password=password, transport=transport, protocol=protocol,
        user_id=user_id, **kw)
    client.connect()
    return client


class Mqtt:
    """Makes MQTT clients for one broker and closes them all at the end
    (the conftest fixture `mqtt` does that after each test)."""

    def __init__(self, host, port, ws_port=None):
        self.host, self.port, self.ws_port = host, int(port), ws_port and int(ws_port)
        self.clients = []

    def connect(self, user, token=None, device="d1", transport="tcp", protocol=MQTTv311,
                port=None, ws_port=None, **kw):
        """connect() against this broker; see connect()."""
        kw.setdefault("host", self.host)
        client = connect(user, token, device=device, transport=transport,
                         protocol=protocol, port=port or self.port,
                         ws_port=ws_port or self.ws_port, **kw)
        self.clients.append(client)
        return client

    def refused(self, user, token=None, **kw):
        """Connects expecting a refusal; returns the CONNACK code (None if
        the broker closed the connection without one)."""
        try:
            client = self.connect(user, token, **kw)
        except MqttRefused as e:
            return e.rc
        client.disconnect()
        raise AssertionError(f"connection as {client.client_id} was accepted")

    def close_all(self):
        for client in self.clients:
            try:
                client.disconnect(timeout=2)
            except Exception:
                client.close()
        self.clients.clear()


# ---------------------------------------------------------------- the stack


class StackError(AssertionError):
    """scripts/stack failed; the message holds its output, .returncode its
    exit status (3: a port was taken)."""

    def __init__(self, message, returncode=None):
        super().__init__(message)
        self.returncode = returncode


def parse_env_file(path):
    """Reads shell assignments NAME='value' (one a line) into a dict."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if len(words) != 1 or "=" not in words[0]:
            raise ValueError(f"{path}: not an assignment: {line!r}")
        name, value = words[0].split("=", 1)
        env[name] = value
    return env


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(count=4):
    """A port N such that N..N+count-1 are free on 127.0.0.1, chosen at
    random below the kernel's ephemeral range (so outgoing connections do
    not take them before the servers bind)."""
    low, high = 20000, 32768
    try:
        eph_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        if eph_low > low + 1000:
            high = eph_low
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(500):
        base = random.randrange(low, high - count)
        if all(_port_free(p) for p in range(base, base + count)):
            return base
    raise StackError("no free ports found")


def stack_environment(build=None, san=None):
    """The environment for scripts/stack in tests: the binaries of the
    build directory (PARLEY_BUILD, default build) and, for a sanitizer build
    (PARLEY_SAN=1), the ASan runtime preloaded into mosquitto.  An outer
    PARLEY_DATABASE_URL is ignored (use PARLEY_TEST_DATABASE_URL to test
    against an existing database)."""
    build = Path(build or os.environ.get("PARLEY_BUILD") or "build")
    if not build.is_absolute():
        build = ROOT / build
    san = os.environ.get("PARLEY_SAN", "0") if san is None else san
    env = dict(os.environ)
    env.pop("PARLEY_DATABASE_URL", None)
    if os.environ.get("PARLEY_TEST_DATABASE_URL"):
        env["PARLEY_DATABASE_URL"] = os.environ["PARLEY_TEST_DATABASE_URL"]
    # scripts/stack waits 30 s for each service to answer unless told
    # otherwise; a slow or loaded machine may need longer, and the wait
    # costs nothing when the services come up quickly.  (Under a wrapper
    # such as valgrind the script's own default is longer still.)
    if not env.get("PARLEY_BROKER_WRAPPER"):
        env.setdefault("PARLEY_STACK_TIMEOUT", "90")
    env.setdefault("PARLEY_API_BIN", str(build / "parley-api"))
    env.setdefault("PARLEY_PLUGIN", str(build / "parley.so"))
    if str(san) == "1":
        if not env.get("PARLEY_BROKER_PRELOAD"):
            cc = os.environ.get("CC", "gcc")
            out = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True,
                                 text=True, check=True).stdout.strip()
            if not os.path.isabs(out):
                raise StackError(f"{cc} does not know libasan.so ({out})")
            env["PARLEY_BROKER_PRELOAD"] = out
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


class Stack:
    """A stack started by scripts/stack in `dir`.

    Attributes: dir, port_base, env (the stack.env dict; also stack[NAME]),
    mqtt_host, mqtt_port, ws_port, http_url, database_url, admin_user,
    admin_password.
    """

    def __init__(self, dir, port_base, run_env=None):
        self.dir = Path(dir)
        self.port_base = port_base
        self.run_env = dict(run_env if run_env is not None else stack_environment())
        self.env = {}
        self.running = False
        self.up_output = ""

    @classmethod
    def start(cls, dir, port_base=None, run_env=None, attempts=3):
        """Runs `scripts/stack up` in dir, on port_base or free ports
        (retrying elsewhere if a port is taken meanwhile); returns the Stack.
        Raises StackError with the script's output on failure."""
        for attempt in range(attempts):
            base = port_base if port_base is not None else free_port_base()
            stack = cls(dir, base, run_env)
            try:
                stack.up()
                return stack
            except StackError as e:
                if e.returncode != 3 or port_base is not None or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _run(self, *args, check=True, timeout=300):
        proc = subprocess.run([str(STACK_SCRIPT), *args, "--dir", str(self.dir)],
                              cwd=ROOT, env=self.run_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise StackError(f"scripts/stack {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}", proc.returncode)
        return proc

    def up(self):
        self.running = True  # even a failed up may leave something to stop
        proc = self._run("up", "--port-base", str(self.port_base))
        self.up_output = proc.stdout
        self.env = parse_env_file(self.dir / "stack.env")
        return self

    def down(self):
        """Runs `scripts/stack down`; returns its output.  Idempotent."""
        self.running = False
        return self._run("down", check=False).stdout

    def stop(self, service, kill=False):
        """Stops "broker", "api" or "db" (SIGKILL / immediate with kill)."""
        self._run("stop", service, *(["--kill"] if kill else []))

    def start_service(self, service):
        """Starts a service stopped with stop(); waits until it answers."""
        self._run("start", service)

    def restart(self, service, kill=False):
        self.stop(service, kill=kill)
        self.start_service(service)

    def pid(self, service):
        """The pid of "broker" or "api" (None if it has no pid file)."""
        name = {"broker": "mosquitto", "api": "api"}[service]
        try:
            return int((self.dir / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def __getitem__(self, name):
        return self.env[name]

    mqtt_host = property(lambda self: self.env["PARLEY_MQTT_HOST"])
    mqtt_port = property(lambda self: int(self.env["PARLEY_MQTT_PORT"]))
    ws_port = property(lambda self: int(self.env["PARLEY_WS_PORT"]))
    http_url = property(lambda self: self.env["PARLEY_HTTP_URL"])
    database_url = property(lambda self: self.env["PARLEY_DATABASE_URL"])
    admin_user = property(lambda self: self.env["PARLEY_ADMIN_USER"])
    admin_password = property(lambda self: self.env["PARLEY_ADMIN_PASSWORD"])

    def api(self):
        return Api(self.http_url)

    def mqtt(self):
        return Mqtt(self.mqtt_host, self.mqtt_port, self.ws_port)

    # -- logs

    LOGS = ("mosquitto", "api", "postgres", "setup")

    def log(self, name):
        """The text of DIR/<name>.log ("" if missing)."""
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, name, lines=40):
        return "\n".join(self.log(name).splitlines()[-lines:])

    def log_tails(self, lines=40):
        parts = []
        for name in self.LOGS:
            text = self.log_tail(name, lines)
            if text:
                parts.append(f"---- {self.dir}/{name}.log (last {lines} lines) ----\n{text}")
        return "\n".join(parts)

    def sanitizer_reports(self):
        """Log lines in which a sanitizer reported an error."""
        found = []
        for name in ("mosquitto", "api", "setup"):
            for line in self.log(name).splitlines():
                if SANITIZER_REPORT.search(line):
                    found.append(f"{name}.log: {line}")
        return found

    # -- database

    def sql(self, query, **variables):
        """Runs SQL with psql against the stack's database and returns the
        rows of the last statement as lists of strings (None for NULL).
        :'name' in the query is replaced by the quoted value of name."""
        psql = "/usr/lib/postgresql/15/bin/psql"
        if not os.path.exists(psql):
            psql = "psql"
        args = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-z",
                "-R", "\x1e", "-P", "null=\x1d", self.database_url]
        for name, value in variables.items():
            args += ["-v", f"{name}={value}"]
        proc = subprocess.run(args, input=query, capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"psql failed: {proc.stderr.strip()}")
        out = proc.stdout.rstrip("\n")
        if not out:
            return []
        return [[None if f == "\x1d" else f for f in row.split("\0")]
                for row in out.split("\x1e")]
