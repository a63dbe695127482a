"""test_hostile_http.py - parley-api against hostile HTTP clients.

Each group tries hard to break one defence (docs/SECURITY.md, "HTTP
clients"):

- login brute force: failed logins throttled per (username, address), per
  address and per username, 429 with Retry-After and the error object,
  the password not even checked while throttled; registrations per address;
- slow clients: a slowloris from one address cannot starve a client from
  another (127.0.0.2, which Linux routes over lo), idle connections are
  closed after the timeout;
- bodies: oversized and lying Content-Length, ambiguous framing, chunked
  bodies over the cap, malformed JSON, wrong types, nesting bombs, invalid
  UTF-8: a clear 4xx or a closed connection, never a crash, and the
  database unchanged;
- ids: percent-encoded traversal, %00 and raw NUL, overlong ids, other
  people's conversations and messages: the same 404 as a missing one.

Tests that need short windows or small limits start their own parley-api
(`strict_api`) on the session stack's database and signing secret, on a
free port, stopped at the end of the module.  Clients that must count as
different addresses bind 127.0.0.x source addresses.
"""

import http.client
import json
import secrets
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import parley
from parley import wait_for, unique_name

PASSWORD = "correct horse battery staple"

# The strict server's limits (see strict_api).
STRICT = {
    "--connection-timeout": 2,
    "--max-connections": 12,
    "--per-ip-connections": 6,
    "--threads": 2,
    "--login-pair-burst": 3,
    "--login-pair-per-hour": 1800,  # one more guess every 2 s
    "--login-address-burst": 6,
    "--login-address-per-hour": 60,  # then one a minute
    "--login-user-burst": 8,
    "--login-user-per-hour": 60,
    "--register-burst": 3,
    "--register-per-hour": 60,
}

# Source addresses: each test that counts per address uses its own.
_next_source = [10]
_source_lock = threading.Lock()


def fresh_source():
    """A loopback address no other test of this module used."""
    with _source_lock:
        _next_source[0] += 1
        n = _next_source[0]
    return f"127.0.{n // 250}.{n % 250 + 2}"


# ------------------------------------------------------------------ HTTP


class Answer:
    """status, headers (lower-case names), body bytes and parsed json."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return f"<Answer {self.status} {self.body[:300]!r}>"


def request(port, method, path, body=None, token=None, source=None, headers=None,
            timeout=15):
    """One request on a new connection from source (127.0.0.1 by default).
    path is sent exactly as given.  A connection the server resets before
    answering (refused over the per-address limit while earlier connections
    of that address are still being torn down) is tried again: it was
    never read."""
    for attempt in range(5):
        try:
            return _request_once(port, method, path, body, token, source, headers, timeout)
        except (ConnectionResetError, http.client.RemoteDisconnected):
            if attempt == 4:
                raise
            time.sleep(0.1)


def _request_once(port, method, path, body, token, source, headers, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    hdrs = {"Connection": "close"}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = "Bearer " + (token if isinstance(token, str) else token["access_token"])
    hdrs.update(headers or {})
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            hdrs.setdefault("Content-Length", str(len(data)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(data)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def raw_exchange(port, data, source=None, timeout=15, shut_write=False, until=None):
    """Sends raw bytes, then reads until the server closes (or timeout
    seconds pass without a byte, or until(bytes read so far) is true).
    Returns (bytes read, how it ended: "closed", "reset", "timeout" or
    "until")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    out = b""
    try:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out, "closed"
            out += chunk
            if until is not None and until(out):
                return out, "until"
    except socket.timeout:
        return out, "timeout"
    except (ConnectionResetError, BrokenPipeError):
        return out, "reset"
    finally:
        s.close()


def status_of(raw):
    """The status code of the first response in raw bytes (None if none)."""
    if not raw.startswith(b"HTTP/1."):
        return None
    return int(raw.split(b" ", 2)[1])


def json_of(raw):
    """The JSON body of the first response in raw bytes (None if none)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    try:
        return json.loads(rest[:length] if length is not None else rest)
    except ValueError:
        return None


def assert_error(answer, status, code=None):
    assert answer.status == status, answer
    err = (answer.json or {}).get("error")
    assert isinstance(err, dict) and isinstance(err.get("code"), str), answer
    assert isinstance(err.get("message"), str) and err["message"], answer
    if code is not None:
        assert err["code"] == code, answer


def assert_rate_limited(answer):
    assert_error(answer, 429, "rate_limited")
    retry = answer.headers.get("retry-after")
    assert retry is not None and retry.isdigit() and int(retry) >= 1, answer.headers
    return int(retry)


def login(port, username, password, source=None):
    return request(port, "POST", "/v1/auth/login",
                   {"username": username, "password": password}, source=source)


def register(port, username, password=PASSWORD, source=None):
    return request(port, "POST", "/v1/auth/register",
                   {"username": username, "password": password}, source=source)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def port(stack):
    return int(stack.http_url.rsplit(":", 1)[1])


def user_exists(stack, username):
    rows = stack.sql("SELECT count(*) FROM users WHERE lower(username) = lower(:'u')",
                     u=username)
    return rows[0][0] != "0"


class StrictApi:
    """A second parley-api on the session stack's database with STRICT."""

    def __init__(self, stack):
        env = parley.stack_environment()
        self.bin = env["PARLEY_API_BIN"]
        self.port = parley.free_port_base(1)
        self.log_path = Path(stack.dir) / f"strict-api-{self.port}.log"
        argv = [self.bin, "serve", "--listen", "127.0.0.1", "--port", str(self.port),
                "--database-url", stack.database_url,
                "--jwt-secret-file", str(Path(stack.dir) / "jwt.secret")]
        for flag, value in STRICT.items():
            argv += [flag, str(value)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)

    def wait_ready(self):
        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"strict parley-api exited: {self.log_text()}")
            try:
                return request(self.port, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False
        wait_for(answers, timeout=90, what="the strict parley-api")

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.log.close()


@pytest.fixture(scope="module")
def strict_api(stack):
    api = StrictApi(stack)
    try:
        api.wait_ready()
        yield api
    finally:
        api.stop()
    reports = [line for line in api.log_text().splitlines()
               if parley.SANITIZER_REPORT.search(line)]
    assert not reports, "\n".join(reports[:20])


@pytest.fixture
def alice(api):
    return api.register(password=PASSWORD)


# ================================================================== login brute force


def test_guessing_one_password_is_throttled_and_the_right_guess_then_refused(port, alice):
    """Default budget: 5 failures per (username, address).  Then 429 with
    Retry-After, even for the right password; the user from another
    address logs in."""
    thief = fresh_source()
    for _ in range(5):
        assert_error(login(port, alice.username, "wrong guess 123", thief), 401)
    assert_rate_limited(login(port, alice.username, "wrong guess 456", thief))
    # The right password is not even checked from there.
    assert_rate_limited(login(port, alice.username, PASSWORD, thief))
    assert_rate_limited(login(port, alice.username.upper(), PASSWORD, thief))
    # The stranger has not locked alice out: her own address works.
    answer = login(port, alice.username, PASSWORD, fresh_source())
    assert answer.status == 200, answer
    assert answer.json["user"]["id"] == alice.id


def test_throttled_answers_carry_no_tokens(port, alice):
    thief = fresh_source()
    answers = [login(port, alice.username, PASSWORD if i == 7 else "nope-nope", thief)
               for i in range(8)]
    assert [a.status for a in answers[:5]] == [401] * 5
    for a in answers[5:]:
        assert_rate_limited(a)
        assert b"access_token" not in a.body and b"refresh_token" not in a.body


PAIR_PERIOD_S = 3600 / STRICT["--login-pair-per-hour"]  # the pair's budget refills one guess per period


def _exhaust_pair(port, user, source, last_password):
    """Three wrong guesses for (user, source), then one more login with
    last_password.  Returns its answer, or None if the four took a whole
    pair period or more: the budget may then rightly have refilled a guess
    (each scrypt check can be slow on a loaded machine), so the answer
    proves nothing."""
    started = time.monotonic()
    for _ in range(3):
        assert_error(login(port, user, "bad password!", source), 401)
    last = login(port, user, last_password, source)
    if time.monotonic() - started >= PAIR_PERIOD_S:
        return None
    return last


def test_retry_after_is_honoured_and_a_success_clears_the_pair(strict_api, stack):
    api = parley.Api(f"http://127.0.0.1:{strict_api.port}")
    # A fresh user and address for each try: a try the machine was too
    # slow for (see _exhaust_pair) leaves budgets behind.
    for _ in range(5):
        user = unique_name("bf")
        assert register(strict_api.port, user, source=fresh_source()).status == 201
        me = fresh_source()
        limited = _exhaust_pair(strict_api.port, user, me, PASSWORD)
        if limited is None:
            continue
        retry = assert_rate_limited(limited)
        assert retry <= 2  # one guess every 2 s

        # After Retry-After the right password gets through.
        def logged_in():
            a = login(strict_api.port, user, PASSWORD, me)
            assert a.status in (200, 429), a
            return a.status == 200
        time.sleep(retry)
        wait_for(logged_in, timeout=30, what="a login after Retry-After")
        # The success forgot the pair's failures: three more guesses pass.
        limited = _exhaust_pair(strict_api.port, user, me, "bad password!")
        if limited is None:
            continue
        assert_rate_limited(limited)
        break
    else:
        pytest.skip(f"four logins never fitted in {PAIR_PERIOD_S:g} s on this machine")
    assert api.get("/healthz").status == 200


def test_one_address_guessing_many_usernames_is_throttled(strict_api):
    spray = fresh_source()
    statuses = [login(strict_api.port, unique_name("ghost"), "Winter2024!", spray).status
                for _ in range(10)]
    assert statuses[:6] == [401] * 6, statuses
    assert statuses[6:] == [429] * 4, statuses
    # Another address is not affected.
    assert login(strict_api.port, unique_name("ghost"), "Winter2024!",
                 fresh_source()).status == 401


def test_many_addresses_guessing_one_username_hit_the_username_budget(strict_api):
    target = unique_name("target")
    statuses = []
    for _ in range(5):
        src = fresh_source()
        statuses += [login(strict_api.port, target, "guess-" + secrets.token_hex(4), src).status
                     for _ in range(3)]
    assert statuses.count(401) == 8, statuses  # --login-user-burst
    assert set(statuses) == {401, 429}, statuses


def test_parallel_guesses_cannot_slip_through_together(strict_api):
    """Charged before the password check: 20 guesses at once from one
    address (each at another username, so the address budget decides;
    it refills once a minute) get exactly that budget of 401s."""
    src = fresh_source()
    names = [unique_name("par") for _ in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(
            lambda n: login(strict_api.port, n, "parallel guess", src).status, names))
    assert statuses.count(401) == STRICT["--login-address-burst"], statuses
    assert statuses.count(429) == 20 - STRICT["--login-address-burst"], statuses


def test_registrations_are_throttled_per_address(strict_api, stack):
    src = fresh_source()
    names = [unique_name("reg") for _ in range(5)]
    answers = [register(strict_api.port, n, source=src) for n in names]
    assert [a.status for a in answers[:3]] == [201] * 3, answers
    for a in answers[3:]:
        assert_rate_limited(a)
    assert [user_exists(stack, n) for n in names] == [True] * 3 + [False] * 2
    # Another address registers.
    other = unique_name("reg")
    assert register(strict_api.port, other, source=fresh_source()).status == 201


# ================================================================== slow clients


def _trickle(socks, dead, stop, pace):
    """Keeps each connection busy with one header byte every 0.3 s, so the
    idle timeout alone would never close them; adds those the server
    closed to dead.  pace["last"] (when the connections were last fed,
    monotonic) and pace["max_gap"] (the longest any went unfed) record
    whether a stalled machine let them idle after all."""
    while not stop.is_set():
        for s in socks:
            if s in dead:
                continue
            try:
                s.send(b"X")
            except OSError:
                dead.add(s)
        now = time.monotonic()
        pace["max_gap"] = max(pace["max_gap"], now - pace["last"])
        pace["last"] = now
        stop.wait(0.3)


def test_slowloris_from_one_address_does_not_starve_another(strict_api):
    """30 connections from 127.0.0.1 sending headers a byte at a time: at
    most --per-ip-connections stay open, and a client from 127.0.0.2 is
    served throughout, well past the idle timeout."""
    socks, dead = [], set()
    stop = threading.Event()
    trickler = None
    pace = {"last": time.monotonic(), "max_gap": 0.0}
    try:
        for _ in range(30):
            s = socket.create_connection(("127.0.0.1", strict_api.port), timeout=5)
            socks.append(s)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            except OSError:
                pass  # refused over the limit: closed by the server
        trickler = threading.Thread(target=_trickle, args=(socks, dead, stop, pace),
                                    daemon=True)
        trickler.start()
        deadline = time.monotonic() + 3 * STRICT["--connection-timeout"]
        served = 0
        while time.monotonic() < deadline:
            answer = request(strict_api.port, "GET", "/healthz", source="127.0.0.2", timeout=15)
            assert answer.status == 200, answer
            served += 1
            time.sleep(0.2)
        assert served > 0
        # Refused connections were closed by the server; the rest are
        # still held open by the trickle.
        stop.set()
        trickler.join(5)
        open_now = 0
        for s in socks:
            if s in dead:
                continue
            s.setblocking(False)
            try:
                open_now += 1 if s.recv(1) else 0
            except BlockingIOError:
                open_now += 1
            except OSError:
                pass
        assert open_now <= STRICT["--per-ip-connections"], open_now
        # Unless the machine stalled the trickle for a whole idle timeout
        # (then the server rightly closed the connections as idle), some
        # are still open.
        idle = max(pace["max_gap"], time.monotonic() - pace["last"])
        if idle < STRICT["--connection-timeout"]:
            assert open_now >= 1, (open_now, pace)
    finally:
        stop.set()
        if trickler is not None:
            trickler.join(5)
        for s in socks:
            s.close()
    assert strict_api.alive()


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                                  b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 100\r\n\r\n{\"username\":"],
                         ids=["silent", "partial_headers", "partial_body"])
def test_idle_connections_are_closed_after_the_timeout(strict_api, sent):
    s = socket.create_connection(("127.0.0.1", strict_api.port),
                                 source_address=(fresh_source(), 0))
    try:
        s.sendall(sent)
        s.settimeout(STRICT["--connection-timeout"] + 10)
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        # Closed without an answer (a partial request gets none).
        assert data == b"" or status_of(data) in (400, 408), data
    finally:
        s.close()
    assert request(strict_api.port, "GET", "/healthz").status == 200


# ================================================================== bodies


def _register_raw(name, content_length=None, extra_headers=b"", body=None):
    body = body if body is not None else json.dumps(
        {"username": name, "password": PASSWORD}).encode()
    head = b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if content_length is not None:
        head += b"Content-Length: " + str(content_length).encode() + b"\r\n"
    return head + extra_headers + b"Content-Type: application/json\r\n\r\n", body


def test_declared_oversized_body_is_413_before_it_is_read(port, stack):
    name = unique_name("big")
    head, _ = _register_raw(name, content_length=10 * 1024 * 1024)
    # Only the headers are sent: the answer must come without the body.
    raw, _ = raw_exchange(port, head)
    assert status_of(raw) == 413, raw
    assert json_of(raw)["error"]["code"] == "payload_too_large"
    assert not user_exists(stack, name)


@pytest.mark.parametrize("cl", ["-1", "abc", "+7", "7 7", "0x10", "1e3",
                                "99999999999999999999999"])
def test_malformed_content_length_is_refused(port, stack, cl):
    name = unique_name("cl")
    head, body = _register_raw(name, extra_headers=b"Content-Length: " + cl.encode() + b"\r\n")
    raw, how = raw_exchange(port, head + body)
    assert status_of(raw) in (400, 413), (raw, how)
    assert not user_exists(stack, name)


@pytest.mark.parametrize("extra", [
    b"Content-Length: 60\r\nContent-Length: 61\r\n",
    b"Content-Length: 60\r\nContent-Length: 60\r\n",
    b"Content-Length: 60\r\nTransfer-Encoding: chunked\r\n",
], ids=["two_lengths", "same_length_twice", "length_and_chunked"])
def test_ambiguous_body_framing_is_400(port, stack, extra):
    name = unique_name("frame")
    head, body = _register_raw(name, extra_headers=extra)
    raw, _ = raw_exchange(port, head + body)
    assert status_of(raw) == 400, raw
    assert json_of(raw)["error"]["code"] == "bad_request"
    assert not user_exists(stack, name)


def test_content_length_larger_than_sent_then_close_changes_nothing(port, stack):
    name = unique_name("short")
    head, body = _register_raw(name, content_length=len(b"x") * 500)
    raw, _ = raw_exchange(port, head + body, shut_write=True, timeout=40)
    assert status_of(raw) is None or status_of(raw) < 500, raw
    assert not user_exists(stack, name)
    assert request(port, "GET", "/healthz").status == 200


def test_content_length_larger_than_sent_then_stall_is_timed_out(strict_api, stack):
    name = unique_name("stall")
    head, body = _register_raw(name, content_length=500)
    raw, how = raw_exchange(strict_api.port, head + body,
                            timeout=STRICT["--connection-timeout"] + 10)
    assert how in ("closed", "reset"), (raw, how)
    assert status_of(raw) is None or status_of(raw) < 500, raw
    assert not user_exists(stack, name)


def test_content_length_smaller_than_sent_cuts_the_body(port, stack):
    name = unique_name("cut")
    head, body = _register_raw(name)
    cut = len(body) - 5
    head, _ = _register_raw(name, content_length=cut)
    raw, _ = raw_exchange(port, head + body)
    assert status_of(raw) == 400, raw
    assert json_of(raw)["error"]["code"] == "invalid_json"
    assert not user_exists(stack, name)
    assert request(port, "GET", "/healthz").status == 200


def _complete_answers(raw):
    """How many complete HTTP answers (head and Content-Length body) raw
    holds, one after the other."""
    count = 0
    while True:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            return count
        length = 0
        for line in raw[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(raw) < end + 4 + length:
            return count
        raw = raw[end + 4 + length:]
        count += 1


def test_bytes_past_content_length_are_not_a_second_request(port, stack):
    """The extra bytes after a complete body are a smuggled request; they
    must not register a second user."""
    first, second = unique_name("smug"), unique_name("smug")
    head1, body1 = _register_raw(first)
    head1, _ = _register_raw(first, content_length=len(body1))
    head1 = head1.replace(b"Connection: close\r\n", b"")
    smuggled_body = json.dumps({"username": second, "password": PASSWORD}).encode()
    smuggled = (b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + str(len(smuggled_body)).encode() + b"\r\n\r\n" + smuggled_body)
    # Framed honestly, pipelining is legitimate: both are answered in order.
    # (The connection stays open after them: read until both are in.)
    raw, _ = raw_exchange(port, head1 + body1 + smuggled, timeout=30,
                          until=lambda got: _complete_answers(got) >= 2)
    assert raw.count(b"HTTP/1.1 201") == 2, raw
    # Framed with two lengths, the first request is refused and the
    # connection closed before the rest is read as a request.
    third, fourth = unique_name("smug"), unique_name("smug")
    body3 = json.dumps({"username": third, "password": PASSWORD}).encode()
    body4 = json.dumps({"username": fourth, "password": PASSWORD}).encode()
    smuggled4 = (b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: "
                 + str(len(body4)).encode() + b"\r\n\r\n" + body4)
    head3 = (b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: "
             + str(len(body3)).encode() + b"\r\nContent-Length: "
             + str(len(body3) + len(smuggled4)).encode() + b"\r\n\r\n")
    raw, _ = raw_exchange(port, head3 + body3 + smuggled4)
    assert status_of(raw) == 400, raw
    assert b"201" not in raw
    assert not user_exists(stack, third) and not user_exists(stack, fourth)


def _chunked(body, size=8192):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_body_over_the_cap_is_413(port, stack):
    name = unique_name("chunk")
    body = json.dumps({"username": name, "password": PASSWORD,
                       "display_name": "x" * (100 * 1024)}).encode()
    head = (b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    raw, _ = raw_exchange(port, head + _chunked(body))
    assert status_of(raw) == 413, raw
    assert json_of(raw)["error"]["code"] == "payload_too_large"
    assert not user_exists(stack, name)


def test_chunked_body_under_the_cap_works(port, stack):
    name = unique_name("chunk")
    body = json.dumps({"username": name, "password": PASSWORD}).encode()
    head = (b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    raw, _ = raw_exchange(port, head + _chunked(body, 7))
    assert status_of(raw) == 201, raw
    assert user_exists(stack, name)


def test_endless_chunked_body_is_cut_off(port):
    """A chunked body that never ends is read and dropped only so far; then
    the connection is closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    chunk = b"%x\r\n" % 65536 + b"A" * 65536 + b"\r\n"
    sent = 0
    closed = False
    try:
        s.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        while sent < 64 * 1024 * 1024:
            s.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        s.close()
    assert closed, f"still reading after {sent} bytes"
    assert request(port, "GET", "/healthz").status == 200


NESTING_BOMB = b'{"username":' + b"[" * 30000 + b"]" * 30000 + b"}"

BAD_BODIES = {
    "truncated": b'{"username":"x","password":',
    "trailing_garbage": b'{"username":"abcdef","password":"pppppppppp"} x',
    "two_values": b'{"a":1}{"b":2}',
    "array": b"[1,2,3]",
    "string": b'"just a string"',
    "nesting_bomb_arrays": NESTING_BOMB,  # both under the 64 KiB cap
    "nesting_bomb_objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "invalid_utf8": b'{"username":"ab\xff\xfecd","password":"pppppppppp"}',
    "overlong_utf8": b'{"username":"\xc0\xafetc","password":"pppppppppp"}',
    "lone_surrogate": b'{"username":"a\\ud800b","password":"pppppppppp"}',
    "escaped_nul": b'{"username":"ab\\u0000cd","password":"pppppppppp"}',
    "raw_nul": b'{"username":"ab\x00cd","password":"pppppppppp"}',
    "duplicate_keys": b'{"username":"a","username":"b","password":"pppppppppp"}',
    "wrong_types": b'{"username":["x"],"password":{"p":1}}',
    "number_username": b'{"username":1e400,"password":"pppppppppp"}',
    "bool_password": b'{"username":"abcdef","password":true}',
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login"])
def test_bad_json_bodies_are_400_with_the_error_object(port, stack, path, body):
    before = stack.sql("SELECT count(*) FROM users")[0][0]
    answer = request(port, "POST", path, body, source=fresh_source())
    assert_error(answer, 400)
    assert stack.sql("SELECT count(*) FROM users")[0][0] == before


@pytest.mark.parametrize("body", [BAD_BODIES[k] for k in (
    "truncated", "nesting_bomb_arrays", "nesting_bomb_objects", "invalid_utf8",
    "escaped_nul", "wrong_types")] + [b'{"display_name":["x"]}', b'{"display_name":123}',
                                      b'{"display_name":"a\\u0000b"}'],
    ids=["truncated", "bomb_arrays", "bomb_objects", "invalid_utf8", "escaped_nul",
         "wrong_types", "name_array", "name_number", "name_nul"])
def test_bad_bodies_change_nothing_for_authenticated_calls(port, api, alice, body):
    for method, path in (("PATCH", "/v1/me"), ("POST", "/v1/conversations")):
        answer = request(port, method, path, body, token=alice)
        assert 400 <= answer.status < 500 and answer.status != 404, (path, answer)
        assert isinstance((answer.json or {}).get("error"), dict), answer
    me = api.get("/v1/me", token=alice).json
    assert me["display_name"] == alice.username
    convs = api.get("/v1/conversations", token=alice).json["conversations"]
    assert convs == []


# ================================================================== ids


@pytest.fixture(scope="module")
def _strangers(stack, api):
    bob, carol, eve = (api.register(password=PASSWORD) for _ in range(3))
    conv = api.create_conversation(bob, [carol])
    m = stack.mqtt()
    try:
        ack = m.connect(bob).send_and_ack(conv["id"], "private")
    finally:
        m.close_all()
    return {"bob": bob, "carol": carol, "eve": eve, "conv": conv["id"], "msg": ack["id"]}


@pytest.fixture
def strangers(api, _strangers):
    """bob and carol's conversation with a message, and eve who is in
    neither (their access tokens renewed when a slow run needs it)."""
    for name in ("bob", "carol", "eve"):
        api.fresh(_strangers[name])
    return _strangers


def _id_calls(conv, msg):
    return [
        ("GET", f"/v1/conversations/{conv}", None),
        ("GET", f"/v1/conversations/{conv}/messages", None),
        ("POST", f"/v1/conversations/{conv}/read", {"up_to": msg}),
        ("PUT", f"/v1/conversations/{conv}/mute", {}),
        ("DELETE", f"/v1/conversations/{conv}/mute", None),
        ("POST", f"/v1/conversations/{conv}/members", {"user": str(uuid.uuid4())}),
        ("PATCH", f"/v1/messages/{msg}", {"body": "defaced"}),
        ("DELETE", f"/v1/messages/{msg}", None),
    ]


def test_other_peoples_conversations_and_messages_look_missing(port, strangers, stack):
    eve = strangers["eve"]
    missing_conv, missing_msg = str(uuid.uuid4()), "9" * 18
    theirs = _id_calls(strangers["conv"], strangers["msg"])
    missing = _id_calls(missing_conv, missing_msg)
    for (method, path, body), (_, mpath, mbody) in zip(theirs, missing):
        a = request(port, method, path, body, token=eve)
        b = request(port, method, mpath, mbody, token=eve)
        assert b.status == 404, (mpath, b)
        assert (a.status, a.body) == (b.status, b.body), (method, path, a, b)
    # Nothing changed: the message is intact and eve is no member.
    rows = stack.sql("SELECT body FROM messages WHERE id = :'id'", id=strangers["msg"])
    assert rows == [["private"]]


def _traversal_paths(s):
    conv, msg = s["conv"], s["msg"]
    return [
        f"/v1/conversations/%2e%2e%2f{conv}",
        f"/v1/conversations/..%2f{conv}",
        f"/v1/conversations/{conv}%2F..%2F..%2Fme",
        f"/v1/conversations/{conv}%2Fmessages",
        "/v1/conversations/%2e%2e/%2e%2e/v1/me",
        f"/v1/conversations/{conv}/../../me",
        f"/v1/conversations/./{conv}",
        f"/v1/conversations//{conv}",
        f"/v1/conversations/{conv.upper()}%00",
        f"/v1/conversations/{conv}%00",
        f"/v1/conversations/%00{conv}",
        f"/v1/conversations/{conv}%20",
        f"/v1/conversations/{conv};x",
        f"/v1/conversations/{conv}" + "a" * 5000,
        f"/v1/conversations/{'f' * 4000}",
        f"/v1/messages/{msg}%00",
        f"/v1/messages/{msg}%2F..",
        f"/v1/messages/0{msg}",
        f"/v1/messages/{'9' * 30}",
        f"/v1/messages/-{msg}",
        f"/v1/messages/%2B{msg}",
        f"/v1/messages/{msg}.0",
    ]


def test_traversal_nul_and_overlong_ids_look_missing(port, strangers):
    eve, bob = strangers["eve"], strangers["bob"]
    reference = request(port, "GET", f"/v1/conversations/{uuid.uuid4()}", token=eve)
    assert reference.status == 404
    for path in _traversal_paths(strangers):
        method = "PATCH" if path.startswith("/v1/messages/") else "GET"
        body = {"body": "defaced"} if method == "PATCH" else None
        for who in (eve, bob):
            a = request(port, method, path, body, token=who)
            assert (a.status, a.body) == (reference.status, reference.body), (path, a)


def test_raw_nul_and_control_bytes_in_the_path(port, strangers):
    eve = strangers["eve"]["access_token"]
    conv = strangers["conv"].encode()
    reference = request(port, "GET", f"/v1/conversations/{uuid.uuid4()}", token=eve)
    for path in (b"/v1/conversations/" + conv + b"\x00",
                 b"/v1/conversations/\x00" + conv,
                 b"/v1/conversations/" + conv + b"\x00/../../me",
                 b"/v1/conversations/" + conv + b"\x01",
                 b"/v1/conversations/" + conv + b"\x7f"):
        req = (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Authorization: Bearer " + eve.encode() + b"\r\n\r\n")
        raw, _ = raw_exchange(port, req, timeout=10)
        st = status_of(raw)
        assert st is None or 400 <= st < 500, (path, raw)
        if st == 404:
            assert json_of(raw) == reference.json, (path, raw)
        assert b"private" not in raw
    assert request(port, "GET", "/healthz").status == 200


def test_overlong_request_line_and_headers_are_refused(port):
    for req in (b"GET /v1/conversations/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\n" + b"X-Many: c\r\n" * 20000 + b"\r\n"):
        raw, how = raw_exchange(port, req, timeout=10)
        st = status_of(raw)
        assert st is None or 400 <= st < 500, raw[:200]
    assert request(port, "GET", "/healthz").status == 200
