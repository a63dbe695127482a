"""A broker that has not loaded its memberships lets nobody in.

Every ACL verdict comes from the membership cache the plugin loads from
PostgreSQL when it starts.  A client let in before that would have its
subscriptions refused for good, so until the cache is in place the plugin
closes connections without a CONNACK (the client reconnects later).  Here a
private mosquitto with the plugin points at a database port where nothing
listens, so the cache can never load; the session's broker, which has loaded
its cache, answers the same CONNECT.
"""

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import parley

ROOT = Path(__file__).resolve().parents[2]

# MQTT 3.1.1 CONNECT, clean session, keepalive 60, empty client id, no
# credentials: the plugin refuses it (CONNACK 0x20 0x02 0x00 0x05) once it is
# ready.
ANONYMOUS_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"


def _plugin():
    env_plugin = os.environ.get("PARLEY_PLUGIN")
    if env_plugin:
        return Path(env_plugin)
    build = Path(os.environ.get("PARLEY_BUILD") or "build")
    return (build if build.is_absolute() else ROOT / build) / "parley.so"


def first_answer(port, timeout=20.0):
    """Sends the anonymous CONNECT and returns the first bytes the broker
    answers with (b"" when it closes the connection without a word).  The
    timeout only bounds a broker that says nothing: both outcomes come at
    once."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(ANONYMOUS_CONNECT)
        try:
            return s.recv(4)
        except ConnectionResetError:
            return b""


@pytest.fixture
def unready_broker(tmp_path):
    """mosquitto with the plugin, its database_url on a closed port."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    base = parley.free_port_base(2)
    port, dead_db_port = base, base + 1
    (tmp_path / "spool").mkdir()
    secret = tmp_path / "jwt.secret"
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o600)
    log = tmp_path / "mosquitto.log"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"""per_listener_settings false
allow_anonymous false
persistence false
user {os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True,
                                                text=True).stdout.strip()}
log_dest file {log}
log_type all
listener {port} 127.0.0.1
plugin {_plugin()}
plugin_opt_database_url postgresql://parley@127.0.0.1:{dead_db_port}/parley?connect_timeout=1
plugin_opt_jwt_secret_file {secret}
plugin_opt_spool_dir {tmp_path / "spool"}
plugin_opt_node_id 0
""")
    env = dict(os.environ)
    if os.environ.get("PARLEY_BROKER_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["PARLEY_BROKER_PRELOAD"]
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        parley.wait_for(lambda: proc.poll() is not None or _listening(port),
                        90, "the private broker to listen")
        assert proc.poll() is None, log.read_text() if log.exists() else "no log"
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_ready_broker_answers_connect(stack):
    assert first_answer(stack.mqtt_port)[:2] == b"\x20\x02"


def test_connections_are_turned_away_until_memberships_are_loaded(unready_broker):
    port, log = unready_broker
    # Several tries over a few seconds: the cache can never load here, so
    # every one must be closed without a CONNACK.
    for _ in range(3):
        assert first_answer(port) == b""
        time.sleep(0.5)
    parley.wait_for(lambda: "memberships not loaded yet" in log.read_text(), 30,
                    "the broker to log why it turned the connection away")
