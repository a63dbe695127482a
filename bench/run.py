#!/usr/bin/python3
"""run.py - Parley's benchmarks: bare mosquitto, mosquitto with its
dynamic-security plugin and Parley, side by side on 127.0.0.1.

    bench/run.py full     everything (make bench; about 10 minutes on 2 cores)
    bench/run.py smoke    a small run that checks that messages flow through
                          every peer and every tool works (make bench-smoke)

Starts every server itself on free ports (a private scripts/stack for
Parley, users and conversations made over HTTP), measures, stops everything
(also on failure or Ctrl-C), prints the table on stdout and writes
BENCH_OUT (results.json) and results.md next to it.  Progress goes to
stderr.  Sections: mqtt (mqtt_matrix.py), connections (connections.py),
persistence (persistence.py), history (history.py).

Settings (environment; full / smoke defaults):
  BENCH_SECTIONS          mqtt,connections,persistence,history
  BENCH_ROUNDS            3 / 1     rounds, peers alternating; medians
  BENCH_DURATION          3 / 1     seconds measured per MQTT run
  BENCH_WARMUP            1 / 0.3   seconds of warm-up per MQTT run
  BENCH_DRAIN             15 / 5    seconds to wait for what is in flight
  BENCH_SHAPES            fanin,fanout,groups / fanin
  BENCH_QOS               1,0 / 1
  BENCH_RATES             1000,10000 / (none)   fixed rates (10 -> 1 shape)
  BENCH_FANOUT_RATES      500 / (none)   fixed publish rates of the 1 -> 50
                          shape (each publish is 50 deliveries): the ACL on
                          every delivery, compared at one load for all
  BENCH_RATE_QOS          1,0 / 1   QoS of the fixed-rate runs
  BENCH_USERS             51 / 11   registered users (fan-out needs 51)
  BENCH_GROUPS            24 / 0    group conversations (3 to 20 members)
  BENCH_BODY              100       characters of message body
  BENCH_CONNECTIONS       10000 / 200
  BENCH_CONN_CONCURRENCY  100       connects in progress at once
  BENCH_FLOOD_SECONDS     5 / 1     writer flood
  BENCH_DRAIN_SECONDS     5 / 1     flood while the table is held
  BENCH_COPY_ROWS         50000 / 1000   at least this many rows for COPY
  BENCH_SINGLE_INSERTS    2000 / 100
  BENCH_HISTORY_MESSAGES  1000000 / 5000
  BENCH_HISTORY_CONVS     10000 / 100
  BENCH_HISTORY_SECONDS   8 / 1
  BENCH_HISTORY_CLIENTS   8
  BENCH_MACHINE           label for the table (default: "<n> vCPU <OS>")
  BENCH_OUT               results file (default $PARLEY_BUILD/bench/results.json,
                          smoke-results.json for smoke)
  BENCH_KEEP              1 keeps the run directory (logs, plans)
  BENCH_LOADGEN           the load generator (default $PARLEY_BUILD/bench/parley-loadgen)
  BENCH_DYNSEC_PLUGIN     /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
  BENCH_PLUGIN_OPTS       more Parley plugin options, "name value" pairs
                          separated by commas (e.g. "writer_linger_ms 10")
Exit status: 0 when every section ran (goals missed are reported, not
failed), 1 when a section failed or, for smoke, nothing flowed; 2 usage.
"""

import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import connections  # noqa: E402
import history  # noqa: E402
import mqtt_matrix  # noqa: E402
import persistence  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
from api import Api  # noqa: E402
from peers import ROOT, BarePeer, DynsecPeer, ParleyPeer  # noqa: E402
from procs import BenchError, Cleanup, log  # noqa: E402
from shapes import Topology, group_stats  # noqa: E402

DEFAULTS = {
    #  name                 full                                   smoke
    "SECTIONS": ("mqtt,connections,persistence,history", "mqtt,connections,persistence,history"),
    "ROUNDS": ("3", "1"),
    "DURATION": ("3", "1"),
    "WARMUP": ("1", "0.3"),
    "DRAIN": ("15", "5"),
    "SHAPES": ("fanin,fanout,groups", "fanin"),
    "QOS": ("1,0", "1"),
    "RATES": ("1000,10000", ""),
    "FANOUT_RATES": ("500", ""),
    "RATE_QOS": ("1,0", "1"),
    "USERS": ("51", "11"),
    "GROUPS": ("24", "0"),
    "BODY": ("100", "100"),
    "CONNECTIONS": ("10000", "200"),
    "CONN_CONCURRENCY": ("100", "100"),
    "FLOOD_SECONDS": ("5", "1"),
    "DRAIN_SECONDS": ("5", "1"),
    "COPY_ROWS": ("50000", "1000"),
    "SINGLE_INSERTS": ("2000", "100"),
    "HISTORY_MESSAGES": ("1000000", "5000"),
    "HISTORY_CONVS": ("10000", "100"),
    "HISTORY_SECONDS": ("8", "1"),
    "HISTORY_CLIENTS": ("8", "8"),
}


class Settings:
    def __init__(self, mode):
        self.mode = mode
        smoke = mode == "smoke"

        def get(name):
            return os.environ.get("BENCH_" + name, DEFAULTS[name][1 if smoke else 0])

        def ints(name):
            return [int(x) for x in get(name).split(",") if x.strip()]

        self.sections = [s.strip() for s in get("SECTIONS").split(",") if s.strip()]
        self.rounds = int(get("ROUNDS"))
        self.duration = float(get("DURATION"))
        self.warmup = float(get("WARMUP"))
        self.drain = float(get("DRAIN"))
        self.shapes = [s.strip() for s in get("SHAPES").split(",") if s.strip()]
        self.qos = ints("QOS")
        self.rates = [float(x) for x in get("RATES").split(",") if x.strip()]
        self.fanout_rates = [float(x) for x in get("FANOUT_RATES").split(",") if x.strip()]
        self.rate_qos = ints("RATE_QOS")
        self.users = int(get("USERS"))
        self.groups = int(get("GROUPS"))
        self.body = int(get("BODY"))
        self.connections = int(get("CONNECTIONS"))
        self.conn_concurrency = int(get("CONN_CONCURRENCY"))
        self.flood_seconds = float(get("FLOOD_SECONDS"))
        self.drain_seconds = float(get("DRAIN_SECONDS"))
        self.copy_min_rows = int(get("COPY_ROWS"))
        self.single_inserts = int(get("SINGLE_INSERTS"))
        self.history_messages = int(get("HISTORY_MESSAGES"))
        self.history_convs = int(get("HISTORY_CONVS"))
        self.history_seconds = int(float(get("HISTORY_SECONDS")))
        self.history_clients = int(get("HISTORY_CLIENTS"))
        self.settle = 0.2 if smoke else 1.0
        # Restart each broker before measuring its memory per connection
        # (see connections.py); the smoke run only checks that it works.
        self.fresh_brokers = not smoke
        self.history_warmup = not smoke
        build = os.environ.get("PARLEY_BUILD", "build")
        self.build = build
        self.loadgen = os.environ.get("BENCH_LOADGEN", str(Path(build) / "bench" / "parley-loadgen"))
        name = "smoke-results.json" if smoke else "results.json"
        self.out = Path(os.environ.get("BENCH_OUT", str(Path(build) / "bench" / name)))
        if not self.out.is_absolute():
            self.out = ROOT / self.out
        self.keep = os.environ.get("BENCH_KEEP", "0") == "1"
        self.machine = os.environ.get("BENCH_MACHINE") or machine_label()
        for s in self.sections:
            if s not in ("mqtt", "connections", "persistence", "history"):
                raise SystemExit(f"run.py: unknown section {s!r} in BENCH_SECTIONS")


def machine_label():
    os_name = "Linux"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"').replace(" GNU/Linux", "")
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU {os_name} ({platform.machine()})"


def setup_parley(settings, cleanup, rundir):
    t0 = time.monotonic()
    parley = ParleyPeer(rundir / "parley", cleanup, settings.build)
    log(f"Parley stack up on MQTT port {parley.port} in {time.monotonic() - t0:.1f} s")
    topo = Topology(settings.users, settings.groups)
    t0 = time.monotonic()
    api = Api(parley.http_url)
    topo.set_users(api.register_many(topo.usernames("bench")))
    for name, members in topo.conversation_specs():
        ids = [topo.users[i]["id"] for i in members]
        cid = api.create_conversation(topo.users[members[0]], ids, name)
        topo.conversations.append({"id": cid, "name": name, "members": ids})
    log(f"{len(topo.users)} users and {len(topo.conversations)} conversations made over "
        f"HTTP in {time.monotonic() - t0:.1f} s")
    time.sleep(settings.settle)  # memberships reach the plugin by NOTIFY
    return parley, topo


def smoke_checks(results):
    """What bench-smoke asserts: things flowed, never how fast."""
    problems = []
    mqtt = results.get("mqtt")
    if mqtt:
        for r in mqtt["runs"]:
            if r["delivered"] == 0 or r["status"] != 0:
                problems.append(f"{r['case']} on {r['peer']}: nothing delivered")
            if r["peer"] == "parley":
                if not r.get("stored"):
                    problems.append(f"{r['case']} on parley: nothing stored")
                if r["acks"] == 0:
                    problems.append(f"{r['case']} on parley: no acks")
    conn = results.get("connections")
    if conn:
        for r in conn["runs"]:
            if r["connections"] != conn["target"]:
                problems.append(f"connections on {r['peer']}: {r['connections']} "
                                f"of {conn['target']}")
    pers = results.get("persistence")
    if pers:
        for key in ("drain", "copy", "single"):
            if pers[key]["rows"] <= 0:
                problems.append(f"persistence {key}: no rows")
    hist = results.get("history")
    if hist:
        for kind in ("http", "sql"):
            m = hist["median"][kind]
            if m["requests"] == 0 or m["errors"]:
                problems.append(f"history {kind}: {m['requests']} requests, "
                                f"{m['errors']} errors")
    return problems


def main(argv):
    if len(argv) != 2 or argv[1] not in ("full", "smoke"):
        print(__doc__, file=sys.stderr)
        return 2
    settings = Settings(argv[1])
    cleanup = Cleanup()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    rundir = Path(tempfile.mkdtemp(prefix=f"parley-bench-{settings.mode}-"))
    results = {"meta": {"mode": settings.mode, "machine": settings.machine,
                        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                        "rounds": settings.rounds, "duration": settings.duration,
                        "warmup": settings.warmup, "body": settings.body,
                        "load_before": os.getloadavg()},
               "failed": {}}
    started = time.monotonic()
    try:
        procs.raise_fd_limit(3 * settings.connections + 4096)
        loadgen = procs.Loadgen(settings.loadgen)
        parley, topo = setup_parley(settings, cleanup, rundir)
        results["meta"]["groups"] = group_stats(topo)
        bare = BarePeer(rundir / "bare", cleanup)
        dynsec = DynsecPeer(rundir / "dynsec", cleanup, topo.users, topo.conversations)
        peers = [bare, dynsec, parley]
        log(f"bare mosquitto on {bare.port}, dynamic-security on {dynsec.port}")
        sections = {
            "mqtt": lambda: mqtt_matrix.run(peers, topo, loadgen, settings, rundir),
            "persistence": lambda: persistence.run(parley, topo, loadgen, settings, rundir),
            "connections": lambda: connections.run(peers, topo, loadgen, settings, rundir),
            "history": lambda: history.run(parley, topo, settings, rundir),
        }
        for name in ("mqtt", "persistence", "connections", "history"):
            if name not in settings.sections:
                continue
            t0 = time.monotonic()
            log(f"== {name}")
            try:
                results[name] = sections[name]()
            except BenchError as e:
                results["failed"][name] = str(e)
                log(f"{name} failed: {e}")
            log(f"== {name} took {time.monotonic() - t0:.0f} s")
    except BenchError as e:
        results["failed"]["setup"] = str(e)
        log(f"setup failed: {e}")
    except SystemExit:
        log("interrupted; stopping everything")
        raise
    except Exception:
        results["failed"]["internal"] = traceback.format_exc(limit=5)
        traceback.print_exc()
    finally:
        cleanup.run()
        if settings.keep:
            log(f"run directory kept: {rundir}")
        else:
            shutil.rmtree(rundir, ignore_errors=True)
    results["meta"]["seconds"] = round(time.monotonic() - started)
    results["meta"]["load_after"] = os.getloadavg()
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(json.dumps(results, indent=1, default=str))
    settings.out.with_suffix(".md").write_text(report.render(results, markdown=True))
    sys.stdout.write(report.render(results))
    log(f"results in {settings.out} and {settings.out.with_suffix('.md')}; "
        f"{results['meta']['seconds']} s in all")
    if results["failed"]:
        return 1
    if settings.mode == "smoke":
        problems = smoke_checks(results)
        for p in problems:
            log(f"smoke: {p}")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
