"""peers.py - the three brokers measured side by side, all on 127.0.0.1:

  bare     mosquitto 2.0 alone, allow_anonymous true
  dynsec   mosquitto with its dynamic-security plugin: one client per user
           (PBKDF2-SHA512 password), one role per conversation and one per
           user's inbox, default access denied, so every publish,
           subscription and delivery is checked against ACLs as in Parley
  parley   a private `scripts/stack` (PostgreSQL, mosquitto + parley.so,
           parley-api), its per-user rate limit raised for benchmarks

The brokers share the settings that matter for speed: persistence off,
TCP_NODELAY, the same log types to a file, and mosquitto's default queue
and in-flight limits (the stack's configuration cannot be changed from
here, so the others keep the defaults too).
"""

import base64
import getpass
import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import procs
from procs import BenchError

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "scripts" / "stack"
DYNSEC_PLUGIN = os.environ.get(
    "BENCH_DYNSEC_PLUGIN", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

# Plugin options for benchmarks: a per-user rate limit that never refuses,
# and a writer queue long enough to hold a flood while PostgreSQL is held.
# BENCH_PLUGIN_OPTS adds more, "name value" pairs separated by commas
# (e.g. "writer_linger_ms 10,batch_max 2000"), to try other settings.
PARLEY_PLUGIN_OPTS = """\
plugin_opt_rate_per_s 1000000
plugin_opt_rate_burst 10000000
plugin_opt_queue_max 2000000
""" + "".join(f"plugin_opt_{o.strip()}\n"
              for o in os.environ.get("BENCH_PLUGIN_OPTS", "").split(",") if o.strip())


class Peer:
    """A running broker: name, port, pid (the broker process), db_pid (the
    PostgreSQL postmaster, or None), and how users present themselves."""

    name = "?"
    db_pid = None
    db_url = None

    def credentials(self, user):
        """(username, password) for a user dict; None stands for none."""
        raise NotImplementedError

    def wants_inbox(self):
        """Whether publishers subscribe to user/{u}/inbox for acks."""
        return False

    def restart_broker(self):
        raise NotImplementedError


# ---------------------------------------------------------------- mosquitto


def mosquitto_conf(dir, port, anonymous, extra=""):
    return f"""# Written by bench/peers.py for one benchmark run.
per_listener_settings false
allow_anonymous {"true" if anonymous else "false"}
persistence false
user {getpass.getuser()}
set_tcp_nodelay true
max_connections -1
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S

listener {port} 127.0.0.1
{extra}"""


class MosquittoPeer(Peer):
    """A mosquitto we start ourselves (bare or with dynamic security)."""

    def __init__(self, name, dir, cleanup, extra_conf="", anonymous=True):
        self.name = name
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cleanup = cleanup
        self.port = procs.free_port_base(1)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(mosquitto_conf(self.dir, self.port, anonymous, extra_conf))
        self.proc = None
        self.start()

    def start(self):
        self.proc = procs.start_server([MOSQUITTO, "-c", str(self.conf)],
                                       self.dir / "stdout.log", self.cleanup,
                                       f"{self.name} mosquitto")
        procs.wait_port(self.port, proc=self.proc)
        self.pid = self.proc.pid

    def restart_broker(self):
        self.proc.bench_stop()
        self.cleanup.remove(self.proc.bench_stop)
        self.start()

    def stop(self):
        if self.proc is not None:
            self.proc.bench_stop()
            self.cleanup.remove(self.proc.bench_stop)
            self.proc = None


class BarePeer(MosquittoPeer):
    def __init__(self, dir, cleanup):
        super().__init__("bare", dir, cleanup)

    def credentials(self, user):
        return user["id"], None


def _dynsec_password(password, iterations=101):
    """The hash dynamic-security stores: PBKDF2-HMAC-SHA512, 12-byte salt."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return {"password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(), "iterations": iterations}


def dynsec_config(users, conversations):
    """dynamic-security.json: users is [{"id", "dynsec_password"}],
    conversations is [{"id", "members": [user ids]}]."""
    roles = []
    user_roles = {u["id"]: [{"rolename": f"inbox-{u['id']}"}] for u in users}
    for u in users:
        topic = f"user/{u['id']}/inbox"
        roles.append({"rolename": f"inbox-{u['id']}", "acls": [
            {"acltype": "subscribeLiteral", "topic": topic, "allow": True},
            {"acltype": "publishClientReceive", "topic": topic, "allow": True},
        ]})
    for c in conversations:
        topic = f"conv/{c['id']}/m"
        roles.append({"rolename": f"conv-{c['id']}", "acls": [
            {"acltype": "publishClientSend", "topic": topic, "allow": True},
            {"acltype": "publishClientReceive", "topic": topic, "allow": True},
            {"acltype": "subscribeLiteral", "topic": topic, "allow": True},
        ]})
        for m in c["members"]:
            user_roles[m].append({"rolename": f"conv-{c['id']}"})
    clients = []
    for u in users:
        entry = {"username": u["id"], "textname": "", "roles": user_roles[u["id"]]}
        entry.update(_dynsec_password(u["dynsec_password"]))
        clients.append(entry)
    return {
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                             "subscribe": False, "unsubscribe": True},
        "clients": clients, "groups": [], "roles": roles,
    }


class DynsecPeer(MosquittoPeer):
    def __init__(self, dir, cleanup, users, conversations):
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        path = dir / "dynamic-security.json"
        path.write_text(json.dumps(dynsec_config(users, conversations)))
        if not Path(DYNSEC_PLUGIN).exists():
            raise BenchError(f"{DYNSEC_PLUGIN} not found (set BENCH_DYNSEC_PLUGIN)")
        extra = f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {path}\n"
        super().__init__("dynsec", dir, cleanup, extra, anonymous=False)

    def credentials(self, user):
        return user["id"], user["dynsec_password"]


# ---------------------------------------------------------------- Parley


class ParleyPeer(Peer):
    """A private scripts/stack.  Its broker, API and database are Parley's
    own; we only pass plugin options and a long token lifetime (the run
    lasts longer than the default 15 minutes)."""

    name = "parley"

    def __init__(self, dir, cleanup, build):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        build = Path(build)
        if not build.is_absolute():
            build = ROOT / build
        self.env = dict(os.environ)
        self.env.pop("PARLEY_DATABASE_URL", None)
        # PARLEY_PLUGIN, PARLEY_API_BIN and PARLEY_BROKER_PRELOAD from the
        # environment win, as in make check (a UBSan plugin with its runtime
        # preloaded: an ASan runtime in the broker hangs it).
        self.env.setdefault("PARLEY_API_BIN", str(build / "parley-api"))
        self.env.setdefault("PARLEY_PLUGIN", str(build / "parley.so"))
        self.env.update({
            "PARLEY_PLUGIN_OPTS": PARLEY_PLUGIN_OPTS,
            "PARLEY_API_ARGS": "--access-ttl 21600",
        })
        for attempt in range(5):
            base = procs.free_port_base(4)
            proc = subprocess.run([str(STACK), "up", "--dir", str(self.dir),
                                   "--port-base", str(base)],
                                  env=self.env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=180)
            if proc.returncode == 0:
                break
            if proc.returncode != 3 or attempt == 4:
                # up stops what it started on failure; down is harmless.
                self._stack("down", check=False)
                raise BenchError(f"scripts/stack up failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        cleanup.add("Parley stack", self.stop)
        self.settings = _read_env(self.dir / "stack.env")
        self.port = int(self.settings["PARLEY_MQTT_PORT"])
        self.http_url = self.settings["PARLEY_HTTP_URL"]
        self.db_url = self.settings["PARLEY_DATABASE_URL"]
        # What the broker and parley-api use: the cluster's Unix socket when
        # the stack made one (scripts/stack, pg_socket_dir), so that pgbench
        # reaches the database the way the API does.
        self.local_db_url = _read_env(self.dir / "stack.state").get("LOCAL_DB_URL") or self.db_url
        self._read_pids()

    def _stack(self, *args, check=True, timeout=120):
        proc = subprocess.run([str(STACK), *args, "--dir", str(self.dir)], env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise BenchError(f"scripts/stack {' '.join(args)} failed: "
                             f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        return proc

    def _read_pids(self):
        self.pid = int((self.dir / "mosquitto.pid").read_text())
        self.api_pid = int((self.dir / "api.pid").read_text())
        pm = self.dir / "pg" / "postmaster.pid"
        self.db_pid = int(pm.read_text().split()[0]) if pm.exists() else None

    def credentials(self, user):
        return user["id"], user["token"]

    def wants_inbox(self):
        return True

    def restart_broker(self):
        self._stack("stop", "broker")
        self._stack("start", "broker")
        self._read_pids()

    def stop(self):
        self._stack("down", check=False)

    def sql(self, query, timeout=600, variables=None):
        return procs.psql(self.db_url, query, timeout, variables)

    def stored_counter(self):
        """change_counter: every stored message takes one number from it,
        so its growth over a run is the number of rows the writer stored."""
        return int(self.sql("SELECT value FROM change_counter"))

    def wait_stored(self, start, expected, timeout=30.0):
        """Waits until the writer stored `expected` rows since the counter
        read `start` (or stopped making progress for 3 s); returns how many
        it stored."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while True:
            stored = self.stored_counter() - start
            now = time.monotonic()
            if stored >= expected or now >= deadline or now - last_change > 3.0:
                return stored
            if stored != last:
                last, last_change = stored, now
            time.sleep(0.1)


def _read_env(path):
    values = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, raw = line.partition("=")
            values[key.strip()] = shlex.split(raw)[0] if raw.strip() else ""
    return values
