"""faultload.py - a steady load of QoS 1 chat publishers with a record of
every message, the tally of what PostgreSQL ended up holding, and the
faults: a frozen or restarted database, the broker's and parley-api's
memory and processes.

A Publisher is one user publishing QoS 1 messages on one conversation at a
fixed rate from its own thread, each with a fresh txn, subscribed to its
inbox for the app-level acks and errors.  Per message it records every
attempt (the paho message info of each publish, so whether a PUBACK came
and, for MQTT 5, its reason code), the acks (with their ids) and the
errors.  A message is

  accepted  when a PUBACK came (with a reason below 0x80 for MQTT 5) and
            no error was answered on the inbox unless an ack was too;
  stored    when PostgreSQL holds a row for its (sender, txn);
  lost      when accepted but not stored (DESIGN.md, "Durability").

Nothing here sleeps to make something happen except the publishers'
pacing; waits poll and are bounded.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import parley

SUMMARY = []  # lines for the terminal summary (conftest.py prints them)


def report(line):
    """Prints a line now and again in the terminal summary."""
    print(line, flush=True)
    SUMMARY.append(line)


# ------------------------------------------------------------------ publishers


class Attempt:
    """One publish of a message on one connection."""

    __slots__ = ("client", "info")

    def __init__(self, client, info):
        self.client, self.info = client, info

    def puback(self):
        """The PUBACK reason (0 for MQTT 3.1.1), or None without a PUBACK."""
        if self.info.rc != 0 or not self.info.is_published():
            return None
        return self.client.pub_reasons.get(self.info.mid, 0)


class Publisher:
    """One user publishing QoS 1 chat messages on conv/{conv}/m at rate
    messages per second, each with a fresh txn `<prefix><n>`."""

    def __init__(self, stack, account, conv, protocol, rate, prefix):
        self.stack, self.account, self.conv = stack, account, conv
        self.protocol, self.rate, self.prefix = protocol, rate, prefix
        self.topic = f"conv/{conv}/m"
        self.inbox = f"user/{account.id}/inbox"
        self.lock = threading.Lock()
        self.order = []  # txns in the order first sent
        self.bodies = {}
        self.attempts = {}  # txn -> [Attempt]
        self.acks = {}  # txn -> [id, ...]
        self.errors = {}  # txn -> [code, ...]
        self.client = None
        self.generation = 0
        self.connected = False
        self.unexpected_disconnects = 0
        self._expect_close = False
        self._stop = threading.Event()
        self._thread = None

    @property
    def name(self):
        return f"{self.account.id[:8]}/{'v5' if self.protocol == parley.MQTTv5 else 'v311'}"

    # -- connection

    def connect(self, timeout=None):
        """Opens a new connection (a new client each time, so nothing paho
        kept is resent behind our back) and subscribes to the inbox."""
        timeout = parley.DEFAULT_TIMEOUT if timeout is None else timeout
        self.generation += 1
        v5 = self.protocol == parley.MQTTv5
        client = parley._PahoClient(
            client_id=f"{self.account.id}:load{self.generation}",
            clean_session=None if v5 else True, protocol=self.protocol,
            reconnect_on_failure=False)
        client.username_pw_set(self.account.id, self.account.token)
        client.max_inflight_messages_set(1000)
        state = {"connack": None, "suback": threading.Event()}

        def on_connect(c, userdata, flags, rc, properties=None):
            state["connack"] = parley._rc_int(rc)
            with self.lock:
                self.connected = state["connack"] == 0

        def on_disconnect(c, userdata, rc, properties=None):
            with self.lock:
                if c is self.client:
                    self.connected = False
                    if not self._expect_close:
                        self.unexpected_disconnects += 1

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *a, **k: state["suback"].set()
        self._expect_close = False
        self.client = client
        if v5:
            client.connect("127.0.0.1", self.stack.mqtt_port, keepalive=10, clean_start=True)
        else:
            client.connect("127.0.0.1", self.stack.mqtt_port, keepalive=10)
        client.loop_start()
        parley.wait_for(lambda: state["connack"] is not None, timeout, f"CONNACK for {self.name}")
        assert state["connack"] == 0, f"{self.name} refused: {state['connack']}"
        client.subscribe(self.inbox, qos=1)
        assert state["suback"].wait(timeout), f"no SUBACK for {self.inbox}"
        return self

    def _on_message(self, client, userdata, msg):
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        with self.lock:
            if data.get("type") == "ack":
                for item in data.get("items") or [data]:
                    self.acks.setdefault(item.get("txn"), []).append(item.get("id"))
            elif data.get("type") == "error":
                self.errors.setdefault(data.get("txn"), []).append(data.get("code"))

    def drop(self):
        """Stops the network thread and closes the socket without DISCONNECT
        (a publisher that never comes back)."""
        self._expect_close = True
        client = self.client
        if client is None:
            return
        client.loop_stop()
        try:
            client._sock_close()
        except Exception:
            pass
        with self.lock:
            self.connected = False

    # -- publishing

    def _publish(self, txn):
        payload = json.dumps({"txn": txn, "type": "text", "body": self.bodies[txn]})
        info = self.client.publish(self.topic, payload, qos=1)
        with self.lock:
            self.attempts.setdefault(txn, []).append(Attempt(self.client, info))

    def _run(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        n = 0
        while not self._stop.is_set():
            with self.lock:
                connected = self.connected
            if not connected:
                break  # the publisher gives up when its connection goes
            txn = f"{self.prefix}{n}"
            n += 1
            with self.lock:
                self.order.append(txn)
                self.bodies[txn] = f"load message {txn}"
            self._publish(txn)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"publisher {self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def resend_unacked(self):
        """Sends every message that has no ack yet again, same txn and body
        (what a client with an outbox does after reconnecting).  Returns
        their txns."""
        with self.lock:
            pending = [t for t in self.order if t not in self.acks]
        for txn in pending:
            self._publish(txn)
        return pending

    # -- what happened

    def state_of(self, txn):
        """(pubacked_ok, acked, errors) of one message."""
        with self.lock:
            reasons = [a.puback() for a in self.attempts.get(txn, [])]
            acked = txn in self.acks
            errors = list(self.errors.get(txn, []))
        return any(r is not None and r < 0x80 for r in reasons), acked, errors

    def accepted(self):
        out = []
        for txn in list(self.order):
            ok, acked, errors = self.state_of(txn)
            if ok and (acked or not errors):
                out.append(txn)
        return out

    def close(self):
        self.stop()
        self._expect_close = True
        if self.client is not None:
            try:
                self.client.disconnect()
            except Exception:
                pass
            self.client.loop_stop()


class Load:
    """Publishers of several users on one conversation."""

    def __init__(self, publishers):
        self.publishers = publishers

    def start(self):
        for p in self.publishers:
            p.start()
        return self

    def stop(self):
        for p in self.publishers:
            p.stop()

    def close(self):
        for p in self.publishers:
            p.close()

    def sent(self):
        return sum(len(p.order) for p in self.publishers)

    def accepted(self):
        return sum(len(p.accepted()) for p in self.publishers)

    def wait_accepted(self, count, timeout=60, what=None):
        """Waits until at least count messages are accepted in all."""
        parley.wait_for(lambda: self.accepted() >= count, timeout,
                        what or f"{count} accepted messages")

    def errors(self):
        """Counter of the error codes answered on the inboxes."""
        out = Counter()
        for p in self.publishers:
            with p.lock:
                out.update(code for codes in p.errors.values() for code in codes)
        return out


def start_load(stack, conv, accounts, rate, prefix):
    """Connects one publisher per account (alternating MQTT 5 and 3.1.1)
    and starts them; returns the Load."""
    publishers = []
    for i, account in enumerate(accounts):
        protocol = parley.MQTTv5 if i % 2 == 0 else parley.MQTTv311
        publishers.append(Publisher(stack, account, conv, protocol, rate,
                                    f"{prefix}{i}-").connect())
    return Load(publishers).start()


# ------------------------------------------------------------------ the tally


def stored_rows(stack, prefix):
    """{txn: [(sender, id), ...]} of the rows whose txn starts with prefix."""
    rows = stack.sql("SELECT txn, sender_id::text, id::text FROM messages"
                     " WHERE txn LIKE :'p' || '%'", p=prefix)
    out = {}
    for txn, sender, id_ in rows:
        out.setdefault(txn, []).append((sender, id_))
    return out


class Tally:
    """What was sent, accepted, acked and stored."""

    def __init__(self, load, stack, prefix):
        rows = stored_rows(stack, prefix)
        self.sent = self.accepted = self.stored_rows = self.duplicates = 0
        self.lost, self.acked_not_stored, self.ack_id_mismatch = [], [], []
        self.refused_but_stored, self.accepted_not_acked = [], []
        self.by_publisher = {}
        for p in load.publishers:
            accepted = set(p.accepted())
            lost = []
            for txn in list(p.order):
                mine = [id_ for sender, id_ in rows.get(txn, []) if sender == p.account.id]
                ok, acked, errors = p.state_of(txn)
                self.sent += 1
                self.stored_rows += len(mine)
                if len(mine) > 1:
                    self.duplicates += 1
                if txn in accepted:
                    self.accepted += 1
                    if not mine:
                        lost.append(txn)
                    if not acked:
                        self.accepted_not_acked.append(txn)
                elif mine and not ok and errors:
                    self.refused_but_stored.append(txn)
                if acked:
                    with p.lock:
                        ids = set(p.acks[txn])
                    if not mine:
                        self.acked_not_stored.append(txn)
                    elif ids != {mine[0]}:
                        self.ack_id_mismatch.append((txn, sorted(ids), mine))
            self.lost.extend(lost)
            self.by_publisher[p.name] = (len(p.order), len(accepted), len(lost))
        self.errors = load.errors()

    def line(self, scenario):
        return (f"{scenario}: sent={self.sent} accepted={self.accepted} "
                f"stored={self.stored_rows} duplicates={self.duplicates} lost={len(self.lost)}")

    def details(self):
        errors = ",".join(f"{k}:{v}" for k, v in sorted(self.errors.items())) or "none"
        return (f"    acked_not_stored={len(self.acked_not_stored)} "
                f"ack_id_mismatch={len(self.ack_id_mismatch)} "
                f"refused_but_stored={len(self.refused_but_stored)} "
                f"accepted_not_acked={len(self.accepted_not_acked)} inbox_errors={errors}")

    def assert_nothing_lost_or_doubled(self):
        assert self.accepted > 0, "nothing was accepted: the scenario proves nothing"
        assert self.lost == [], f"{len(self.lost)} accepted messages not stored: {self.lost[:10]}"
        assert self.duplicates == 0, f"{self.duplicates} messages stored more than once"
        assert self.acked_not_stored == [], \
            f"acked but not stored: {self.acked_not_stored[:10]}"
        assert self.ack_id_mismatch == [], \
            f"acks naming another id than the stored row: {self.ack_id_mismatch[:5]}"
        assert self.refused_but_stored == [], \
            f"refused (error on the inbox, no PUBACK success) yet stored: " \
            f"{self.refused_but_stored[:10]}"


def wait_stored(load, stack, prefix, publishers=None, timeout=120):
    """Waits (bounded) until every accepted message of publishers (default:
    all) is in PostgreSQL; returns without failing so that the tally can
    say what is missing."""
    publishers = load.publishers if publishers is None else publishers

    def all_stored():
        rows = stored_rows(stack, prefix)
        return all(t in rows for p in publishers for t in p.accepted())
    try:
        parley.wait_for(all_stored, timeout, "every accepted message in PostgreSQL", interval=0.2)
    except parley.WaitTimeout:
        pass


def wait_acked(load, timeout=120):
    """Waits (bounded) until every accepted message of a connected
    publisher has its ack; does not fail (the tally reports)."""
    def all_acked():
        return all(t in p.acks for p in load.publishers if p.connected for t in p.accepted())
    try:
        parley.wait_for(all_acked, timeout, "the ack of every accepted message", interval=0.2)
    except parley.WaitTimeout:
        pass


# ------------------------------------------------------------------ processes


def broker_rss_mb(stack):
    pid = stack.pid("broker")
    assert pid is not None, "the broker has no pid file"
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for the broker")


def process_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pg_bin(name):
    for candidate in ["/usr/lib/postgresql/15/bin/" + name,
                      *sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))]:
        if os.path.exists(candidate):
            return candidate
    return name


def pg_ctl(stack, *args, timeout=120):
    """Runs pg_ctl on the stack's cluster in DIR/pg, as the postgres user
    when we are root (PostgreSQL refuses to run as root)."""
    cmd = [_pg_bin("pg_ctl"), *args, "-D", str(Path(stack.dir) / "pg")]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    done = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}: {done.stdout}{done.stderr}"
    return done


def restart_database_immediately(stack):
    """`pg_ctl restart -m immediate`: the server is killed without a
    checkpoint and comes back through crash recovery (same options)."""
    pg_ctl(stack, "restart", "-m", "immediate", "-w", "-t", "120", "-s",
           "-l", str(Path(stack.dir) / "postgres.log"))


def postmaster_pid(stack):
    try:
        return int((Path(stack.dir) / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cluster_pids(stack):
    """The postmaster and every process it started (backends, checkpointer,
    WAL writer, ...)."""
    root = postmaster_pid(stack)
    if root is None:
        return []
    pids = [root]
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            pids.append(int(stat.split("/")[2]))
    return pids


_FROZEN = {}  # stack dir -> pids stopped


def freeze_database(stack):
    """SIGSTOP to the postmaster first (so it starts nothing new), then to
    all its children.  Returns the pids."""
    pids = cluster_pids(stack)
    assert pids, "no PostgreSQL processes found"
    _FROZEN[str(stack.dir)] = pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    # Anything forked in between is stopped too.
    for pid in cluster_pids(stack):
        if pid not in pids:
            os.kill(pid, signal.SIGSTOP)
            pids.append(pid)
    return pids


def thaw_database(stack):
    """SIGCONT to every process freeze_database stopped (and the cluster as
    it is now).  Safe to call when nothing is frozen."""
    pids = set(_FROZEN.pop(str(stack.dir), [])) | set(cluster_pids(stack))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass


# ------------------------------------------------------------------ a proxy that can hang


class HangingProxy:
    """A TCP proxy on 127.0.0.1 to target_port.  hang() makes every
    connection open at that moment stop forwarding for good, in both
    directions, without closing anything: its peers see a connection that
    is up but never answers (a failover that black-holes the old server's
    address, a stuck middlebox).  Connections opened later are forwarded."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []  # [client socket, server socket, hung event]
        self.closing = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            hung = threading.Event()
            with self.lock:
                self.pairs.append((client, server, hung))
                self.accepted += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst, hung), daemon=True).start()

    def _pump(self, src, dst, hung):
        src.settimeout(0.2)
        while not self.closing.is_set():
            if hung.is_set():
                self.closing.wait(0.5)  # read nothing, write nothing, close nothing
                continue
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if hung.is_set():
                continue  # swallowed: it never arrives
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def hang(self):
        """Every connection open now stops forwarding; returns how many."""
        with self.lock:
            for _, _, hung in self.pairs:
                hung.set()
            return len(self.pairs)

    def close(self):
        self.closing.set()
        self.sock.close()
        with self.lock:
            for client, server, _ in self.pairs:
                client.close()
                server.close()
        self.thread.join(timeout=5)


def route_broker_database_through(stack, port):
    """Restarts the stack's broker with its plugin's database_url pointing
    at 127.0.0.1:port instead of PostgreSQL (whose Unix socket the stack
    gives the plugin when it can; parley-api and the tests keep their
    URLs): the stack's TCP URL with the proxy's port."""
    conf = Path(stack.dir) / "mosquitto.conf"
    pg_port = stack.database_url.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    proxied = stack.database_url.replace(f"@127.0.0.1:{pg_port}/", f"@127.0.0.1:{port}/")
    assert f":{port}/" in proxied, "could not reroute the database URL"
    stack.stop("broker")
    lines = []
    for line in conf.read_text().splitlines():
        if line.startswith("plugin_opt_database_url "):
            line = f"plugin_opt_database_url {proxied}"
        lines.append(line)
    conf.write_text("\n".join(lines) + "\n")
    stack.start_service("broker")
