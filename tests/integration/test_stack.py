"""Tests of scripts/stack and of the stack it runs: settings, listeners,
the admin account, MQTT authentication at connect, and restarts."""

import os
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import pytest

import parley
from conftest import forget_stack, start_stack
from parley import MQTTv5, MQTTv311


def test_stack_env_holds_every_setting(stack):
    env = parley.parse_env_file(stack.dir / "stack.env")
    for name in parley.STACK_VARIABLES:
        assert env.get(name), f"{name} missing or empty in stack.env"
    base = stack.port_base
    assert env["PARLEY_MQTT_HOST"] == "127.0.0.1"
    assert int(env["PARLEY_MQTT_PORT"]) == base
    assert int(env["PARLEY_WS_PORT"]) == base + 1
    assert env["PARLEY_HTTP_URL"] == f"http://127.0.0.1:{base + 2}"
    assert env["PARLEY_ADMIN_USER"] == "admin"
    url = urllib.parse.urlsplit(env["PARLEY_DATABASE_URL"])
    assert url.scheme in ("postgresql", "postgres")
    assert url.username and url.password and url.path == "/parley"
    if not os.environ.get("PARLEY_TEST_DATABASE_URL"):
        assert (url.hostname, url.port) == ("127.0.0.1", base + 3)


def test_stack_env_can_be_sourced_by_a_shell(stack):
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "-", str(stack.dir / "stack.env")],
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=True).stdout
    sourced = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    for name in parley.STACK_VARIABLES:
        assert sourced[name] == stack[name]


def test_secrets_are_readable_by_their_owner_only(stack):
    for name in ("stack.env", "jwt.secret", "admin.password", "mosquitto.conf"):
        mode = (stack.dir / name).stat().st_mode
        assert mode & 0o077 == 0, f"{name} has mode {mode & 0o777:o}"


def _listeners():
    """(address, port) of every listening TCP socket, from /proc/net."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            addr, port = fields[1].split(":")
            if len(addr) == 8:
                ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                ip = "ipv6:" + addr
            found.append((ip, int(port, 16)))
    return found


def test_servers_listen_on_loopback_only(stack):
    ports = {stack.mqtt_port, stack.ws_port, stack.port_base + 2}
    if not os.environ.get("PARLEY_TEST_DATABASE_URL"):
        ports.add(stack.port_base + 3)
    listening = [(ip, port) for ip, port in _listeners() if port in ports]
    assert {port for _, port in listening} == ports
    assert all(ip == "127.0.0.1" for ip, _ in listening), listening


def test_healthz_answers(api):
    status, _, _ = api.get("/healthz")
    assert status == 200


def test_admin_logs_in_with_the_stack_password(stack, api):
    admin = api.login(stack.admin_user, stack.admin_password)
    assert admin["access_token"] and admin["refresh_token"]
    assert admin["expires_in"] > 0
    assert admin["user"]["username"] == "admin"
    claims = parley.jwt_claims(admin)
    assert claims["sub"] == admin["user"]["id"]
    assert claims["role"] == "admin"
    assert claims["iss"] == "parley" and claims["aud"] in ("parley", ["parley"])
    assert claims["exp"] > claims["iat"]


def test_admin_login_with_a_wrong_password_fails(stack, api):
    resp = api.post("/v1/auth/login", json={"username": stack.admin_user, "password": "wrong"})
    assert resp.status == 401
    assert "access_token" not in (resp.json or {})


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
@pytest.mark.parametrize("protocol", [MQTTv311, MQTTv5], ids=["v311", "v5"])
def test_mqtt_accepts_an_access_token(api, mqtt, transport, protocol):
    alice = api.register()
    client = mqtt.connect(alice, transport=transport, protocol=protocol, device="phone")
    assert client.connected
    assert client.client_id == f"{alice.id}:phone"
    client.disconnect()
    assert not client.connected


def _tampered(token):
    head, payload, sig = token.split(".")
    flipped = "A" if sig[5] != "A" else "B"
    return ".".join((head, payload, sig[:5] + flipped + sig[6:]))


REFUSALS = {
    "garbage password": lambda alice, bob: {"password": "not-a-token"},
    "tampered signature": lambda alice, bob: {"password": _tampered(alice.token)},
    "no password": lambda alice, bob: {"password": None},
    "another user's token": lambda alice, bob: {"token": bob.token},
    "username not the token's sub": lambda alice, bob: {"username": bob.id},
    "client id of another user": lambda alice, bob: {"client_id": f"{bob.id}:d1"},
    "client id without device": lambda alice, bob: {"client_id": alice.id},
    "device with a bad character": lambda alice, bob: {"device": "ph one"},
}


@pytest.fixture(scope="module")
def two_users(api):
    return api.register(), api.register()


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_mqtt_refuses_bad_credentials(two_users, mqtt, transport, case):
    alice, bob = two_users
    mqtt.refused(alice, transport=transport, **REFUSALS[case](alice, bob))
    # ... and the same user with the right credentials is let in.
    mqtt.connect(alice, transport=transport).disconnect()


@pytest.mark.parametrize("protocol", [MQTTv311, MQTTv5], ids=["v311", "v5"])
def test_mqtt_refuses_anonymous_clients(stack, protocol):
    client = parley.MqttClient(stack.mqtt_host, stack.mqtt_port, client_id="anonymous:d1",
                               protocol=protocol)
    with pytest.raises(parley.MqttRefused) as refusal:
        client.connect()
    assert refusal.value.rc != 0


def test_refused_client_gets_a_refusal_code(api, mqtt):
    alice = api.register()
    assert mqtt.refused(alice, password="not-a-token") in (4, 5)
    assert mqtt.refused(alice, password="not-a-token", protocol=MQTTv5) in (0x86, 0x87)


def _stack_script(*args, env=None):
    return subprocess.run([str(parley.STACK_SCRIPT), *args], cwd=parley.ROOT,
                          env=env or parley.stack_environment(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


def test_stack_restarts_on_the_same_dir_and_keeps_data():
    tmp = Path(tempfile.mkdtemp(prefix="parley-restart-"))
    dir = tmp / "var"
    first = start_stack(dir)
    try:
        api = first.api()
        alice = api.register()
        admin_password = first.admin_password

        # A second up on a running stack refuses and leaves it alone.
        again = _stack_script("up", "--dir", str(dir), "--port-base", str(parley.free_port_base()))
        assert again.returncode == 1, again.stdout + again.stderr
        assert "already running" in again.stderr
        assert api.get("/healthz").status == 200

        down = _stack_script("down", "--dir", str(dir))
        assert down.returncode == 0, down.stdout + down.stderr
        first.running = False
        forget_stack(first)
        assert not (dir / "stack.env").exists()
        assert _stack_script("status", "--dir", str(dir)).returncode != 0
        with pytest.raises(OSError):
            api.get("/healthz", timeout=2)

        second = start_stack(dir)  # other free ports, same data
        try:
            assert second.admin_password == admin_password
            api2 = second.api()
            again = api2.login(alice.username, alice.password)
            assert again["user"]["id"] == alice.id
            api2.login(second.admin_user, second.admin_password)
            client = second.mqtt().connect(again)
            client.disconnect()
        finally:
            second.down()
            forget_stack(second)
        # down is idempotent
        assert _stack_script("down", "--dir", str(dir)).returncode == 0
    finally:
        if first.running:
            first.down()
            forget_stack(first)
        shutil.rmtree(tmp, ignore_errors=True)
