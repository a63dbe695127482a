#!/usr/bin/python3
"""profile.py - where Parley spends its time under benchmark load, for the
people who optimise it (docs/PERFORMANCE.md quotes its output).

    bench/profile.py broker [SECONDS [SHAPE [RATE]]]
                                        perf profile of the broker process
                                        (main thread, writer, listener) under
                                        a QoS 1 load: SHAPE fanin (10 -> 1,
                                        the default) or fanout (1 -> 50), flat
                                        out or at RATE messages per second
    bench/profile.py api [SECONDS]      perf profile of parley-api under the
                                        history load (wrk, 8 connections)
    bench/profile.py writer [ROWS [EXISTING]]
                                        the writer's statement (read from
                                        plugin/writer.c) on one batch of ROWS
                                        (1000), with EXPLAIN ANALYZE, against
                                        a plain INSERT ... SELECT and COPY of
                                        the same rows, in a table that already
                                        holds EXISTING messages (300000)

Starts its own private stack on free ports and stops it at the end, like
run.py.  Needs perf (linux-perf) for broker and api.  PARLEY_BUILD picks
the binaries (default build).
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import history  # noqa: E402
import procs  # noqa: E402
import shapes  # noqa: E402
from api import Api  # noqa: E402
from peers import ROOT, ParleyPeer  # noqa: E402
from persistence import COLUMNS, _rows  # noqa: E402
from procs import BenchError, Cleanup, log  # noqa: E402


def setup(cleanup, rundir, users=11):
    build = os.environ.get("PARLEY_BUILD", "build")
    parley = ParleyPeer(rundir / "parley", cleanup, build)
    api = Api(parley.http_url)
    topo = shapes.Topology(users, 0)
    topo.set_users(api.register_many(topo.usernames("prof")))
    for name, members in topo.conversation_specs():
        ids = [topo.users[i]["id"] for i in members]
        topo.conversations.append({"id": api.create_conversation(topo.users[members[0]], ids, name),
                                   "name": name, "members": ids})
    time.sleep(1)
    return parley, topo, Path(build)


def perf(pid, seconds, out):
    """perf record of every thread of pid for seconds (DWARF call graphs:
    mosquitto and the libraries have no frame pointers); returns the
    report: shares by library (self time), the functions with the most
    time including callees, the most self time, and the split by thread."""
    procs.run(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(pid),
               "-o", str(out), "--", "sleep", str(seconds)], seconds + 120, "perf record")
    parts = []
    for title, args in (
            ("self time by library", ["--no-children", "--sort", "dso", "--percent-limit", "1"]),
            ("time including callees, by function",
             ["--children", "--sort", "dso,symbol", "--percent-limit", "2.5"]),
            ("self time by function",
             ["--no-children", "--sort", "dso,symbol", "--percent-limit", "0.7"]),
            ("by thread (the first is the broker's main thread)",
             ["--no-children", "--sort", "pid", "--percent-limit", "1"])):
        rep = procs.run(["perf", "report", "-i", str(out), "--stdio", "-g", "none", *args],
                        300, "perf report")
        lines = [l.rstrip() for l in rep.splitlines() if l.strip() and not l.startswith("#")]
        parts.append(f"-- {title}\n" + "\n".join(lines))
    return "\n\n".join(parts)


def profile_broker(seconds, cleanup, rundir, shape="fanin", rate=0):
    # fan-out needs 51 users (one publisher, 50 subscribers)
    parley, topo, build = setup(cleanup, rundir, users=51 if shape == "fanout" else 11)
    plan = shapes.write_plan(rundir / f"{shape}.plan", topo, shape, parley)
    loadgen = procs.Loadgen(build / "bench" / "parley-loadgen")
    argv = loadgen.argv(plan, parley.port, mode="flow", qos=1, rate=rate,
                        window=8 if shape == "fanout" else 4,
                        ack_window=1000, warmup=1, duration=seconds + 1, drain=10,
                        run_id="p" + secrets.token_hex(3), broker_pid=parley.pid,
                        db_pid=parley.db_pid)
    gen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cleanup.add("load generator", lambda: gen.poll() is None and gen.kill())
    time.sleep(1.5)
    report = perf(parley.pid, seconds, rundir / "broker.perf")
    out, err = gen.communicate(timeout=seconds + 120)
    print(f"load: {out.strip()[:600]}\n")
    print(report)


def profile_api(seconds, cleanup, rundir):
    parley, topo, build = setup(cleanup, rundir)

    class S:  # the few settings history.py reads
        history_messages, history_convs, history_clients, rounds = 200000, 2000, 8, 1
    history.generate(parley, topo.users[0], S)
    history.wrk(parley, topo.users[0], S, 2)
    env = dict(os.environ, HISTORY_TOKEN=topo.users[0]["token"],
               HISTORY_CONVS=str(S.history_convs), HISTORY_LIMIT="50")
    gen = subprocess.Popen(["wrk", "-t", "2", "-c", "8", "-d", f"{seconds + 2}s", "-s",
                            str(history.HERE / "history.lua"), parley.http_url],
                           env=env, stdout=subprocess.PIPE, text=True)
    cleanup.add("wrk", lambda: gen.poll() is None and gen.kill())
    time.sleep(1)
    report = perf(parley.api_pid, seconds, rundir / "api.perf")
    out, _ = gen.communicate(timeout=seconds + 60)
    print("\n".join(l for l in out.splitlines() if l.startswith("BENCH_JSON")) + "\n")
    print(report)


def writer_sql():
    """The writer's store statement, from the C string literals in
    plugin/writer.c (so this always tests the current statement)."""
    src = (ROOT / "plugin" / "writer.c").read_text()
    m = re.search(r"static const char store_sql\[\] =(.*?);\n", src, re.S)
    if not m:
        raise BenchError("store_sql not found in plugin/writer.c")
    return "".join(bytes(s, "utf-8").decode("unicode_escape")
                   for s in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def profile_writer(rows, existing, cleanup, rundir):
    parley, topo, _ = setup(cleanup, rundir)
    conv = topo.conv("fanin")
    if existing:
        # Messages already stored, as after a while of traffic (ids of node
        # 1018, in the past, spread over the fan-in conversation's senders).
        parley.sql(f"""
            INSERT INTO messages (id, conv_id, sender_id, txn, type, body, ts)
            SELECT (((extract(epoch FROM now())::bigint * 1000 - 86400000 - 1704067200000 + n)
                     << 22) | (1018 << 12)),
                   '{conv["id"]}', (ARRAY['{"','".join(conv["members"][1:11])}'])[n % 10 + 1]::uuid,
                   'old' || n, 'text', repeat('x', 100), now()
            FROM generate_series(1, {existing}) AS n;
            ANALYZE messages;""")
    senders = conv["members"][1:11]
    body = "x" * 100

    def batch(tag, node):
        # Each committed batch mints its ids for a node of its own: two
        # batches made in the same millisecond would otherwise share them.
        import json
        return json.dumps([{"id": str(r[0]), "conv": r[1], "from": r[2],
                            "ts": int(time.time() * 1000), "txn": r[3], "type": "text",
                            "body": r[5]}
                           for r in _rows(rows, conv["id"], senders, node, tag, body)])

    def run_sql(sql):
        return procs.run([procs.PSQL, "-X", "-v", "ON_ERROR_STOP=1", parley.db_url], 600,
                         "psql", input=sql)

    store = writer_sql().replace("$1", "$1::text")
    plain = ("INSERT INTO messages (id, conv_id, sender_id, txn, type, body, ts)"
             " SELECT (m->>'id')::bigint, (m->>'conv')::uuid, (m->>'from')::uuid,"
             " m->>'txn', m->>'type', m->>'body',"
             " timestamptz 'epoch' + (m->>'ts')::bigint * interval '1 millisecond'"
             " FROM jsonb_array_elements($1::jsonb) AS m")
    print(f"== the writer's statement, {rows} rows, EXPLAIN ANALYZE (rolled back)\n")
    print(run_sql(f"BEGIN;\nPREPARE store(text) AS {store};\n"
                  f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE store('{batch('e', 1020)}');\n"
                  "ROLLBACK;\n"))
    print(f"== committed timings, {rows} rows each (synchronous_commit on)\n")
    data = "".join("\t".join(map(str, r)) + "\t\\N\n"
                   for r in _rows(rows, conv["id"], senders, 1019, "c" + secrets.token_hex(3),
                                  body))
    out = run_sql("\\timing on\n"
                  f"PREPARE store(text) AS {store};\n"
                  f"EXECUTE store('{batch('w' + secrets.token_hex(3), 1020)}');\n"
                  f"PREPARE plain(text) AS {plain};\n"
                  f"EXECUTE plain('{batch('p' + secrets.token_hex(3), 1017)}');\n"
                  f"COPY messages ({COLUMNS}) FROM STDIN;\n{data}\\.\n")
    times = [l for l in out.splitlines() if l.startswith("Time:")]
    labels = ["PREPARE writer", "writer statement", "PREPARE plain", "plain INSERT ... SELECT "
              "from the same JSON", "COPY"]
    for label, t in zip(labels, times):
        print(f"{label:<45} {t}")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("broker", "api", "writer"):
        print(__doc__, file=sys.stderr)
        return 2
    what = argv[1]
    arg = int(argv[2]) if len(argv) > 2 else (1000 if what == "writer" else 10)
    existing = int(argv[3]) if len(argv) > 3 and what == "writer" else 300000
    cleanup = Cleanup()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    rundir = Path(tempfile.mkdtemp(prefix=f"parley-profile-{what}-"))
    keep = os.environ.get("BENCH_KEEP") == "1"
    try:
        if what != "writer" and not shutil.which("perf"):
            raise BenchError("perf not found (Debian package linux-perf)")
        if what == "writer":
            profile_writer(arg, existing, cleanup, rundir)
        elif what == "broker":
            shape = argv[3] if len(argv) > 3 else "fanin"
            if shape not in ("fanin", "fanout"):
                raise BenchError(f"unknown shape {shape!r} (fanin or fanout)")
            rate = float(argv[4]) if len(argv) > 4 else 0
            profile_broker(arg, cleanup, rundir, shape, rate)
        else:
            profile_api(arg, cleanup, rundir)
        return 0
    except BenchError as e:
        log(str(e))
        return 1
    finally:
        cleanup.run()
        if keep:
            log(f"kept {rundir}")
        else:
            shutil.rmtree(rundir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
