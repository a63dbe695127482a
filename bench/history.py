"""history.py - GET /v1/conversations/{c}/messages over HTTP with wrk against
the same SQL run straight in PostgreSQL with pgbench, on a data set of
BENCH_HISTORY_MESSAGES messages in BENCH_HISTORY_CONVS conversations
generated with INSERT ... SELECT generate_series (history_data.sql).

Both at BENCH_HISTORY_CLIENTS concurrent clients (wrk: connections over
two threads; pgbench: clients over two threads, -M prepared like the API,
the one statement an authenticated history request runs: the account check
folded into the page, see history_pgbench.sql),
for BENCH_HISTORY_SECONDS per round after a short warm-up; medians over
rounds.  pgbench's per-transaction log gives its percentiles.
"""

import json
import os
import statistics
import time
import urllib.request
from pathlib import Path

import procs
from procs import BenchError, log

HERE = Path(__file__).resolve().parent
PAGE = 50


def conv_id(i):
    return f"00000000-0000-4000-8000-{i:012x}"


def generate(parley, reader, settings):
    base_ms = int(time.time() * 1000) - settings.history_messages - 2 * 86400 * 1000
    t0 = time.monotonic()
    procs.run([procs.PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1",
               "-v", f"users={max(3, settings.history_convs // 5)}",
               "-v", f"convs={settings.history_convs}",
               "-v", f"messages={settings.history_messages}",
               "-v", f"base_ms={base_ms}", "-v", f"owner={reader['id']}",
               "-f", str(HERE / "history_data.sql"), parley.db_url],
              3600, "generating the history data set")
    seconds = time.monotonic() - t0
    count = int(parley.sql("SELECT count(*) FROM messages WHERE conv_id >= "
                           "'00000000-0000-4000-8000-000000000000' AND conv_id <= "
                           "'00000000-0000-4000-8000-ffffffffffff'"))
    return {"messages": count, "conversations": settings.history_convs,
            "seconds": seconds}


def check_page(parley, reader):
    """One request by hand: the page must be full and newest first."""
    req = urllib.request.Request(
        f"{parley.http_url}/v1/conversations/{conv_id(1)}/messages?limit={PAGE}",
        headers={"Authorization": "Bearer " + reader["token"]})
    with urllib.request.urlopen(req, timeout=10) as resp:
        page = json.loads(resp.read())
    msgs = page["messages"]
    if not isinstance(page.get("has_more"), bool):
        raise BenchError("history page has no has_more flag")
    if not msgs or len(msgs) > PAGE:
        raise BenchError(f"history page has {len(msgs)} messages")
    ids = [int(m["id"]) for m in msgs]
    if ids != sorted(ids, reverse=True):
        raise BenchError("history page is not newest first")
    return len(msgs)


def wrk(parley, reader, settings, seconds):
    env = dict(os.environ, HISTORY_TOKEN=reader["token"],
               HISTORY_CONVS=str(settings.history_convs), HISTORY_LIMIT=str(PAGE))
    clients = settings.history_clients
    out = procs.run(["wrk", "-t", str(min(2, clients)), "-c", str(clients),
                     "-d", f"{seconds}s", "--timeout", "10s", "-s", str(HERE / "history.lua"),
                     parley.http_url], seconds + 60, "wrk", env=env)
    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no result: {out[-500:]}")
    r = json.loads(line[len("BENCH_JSON "):])
    errors = sum(r[k] for k in ("errors_connect", "errors_read", "errors_write",
                                "errors_status", "errors_timeout"))
    secs = r["duration_us"] / 1e6
    return {"req_per_s": r["requests"] / secs if secs else 0.0, "requests": r["requests"],
            "errors": errors, "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "p999_ms": r["p999_us"] / 1000,
            "mean_ms": r["mean_us"] / 1000}


def pgbench(parley, reader, settings, seconds, workdir):
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("pgb*"):
        old.unlink()
    clients = settings.history_clients
    out = procs.run([procs.PGBENCH, "-n", "-M", "prepared", "-c", str(clients),
                     "-j", str(min(2, clients)), "-T", str(seconds),
                     "-f", str(HERE / "history_pgbench.sql"),
                     "-D", f"convs={settings.history_convs}", "-D", f"owner={reader['id']}",
                     "-D", f"limit={PAGE}", "-l", "--log-prefix", str(workdir / "pgb"),
                     parley.local_db_url], seconds + 60, "pgbench", cwd=str(workdir))
    latencies = []
    for f in workdir.glob("pgb*"):
        for line in f.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                latencies.append(int(fields[2]))  # microseconds
    tps = next((float(l.split("=")[1].split()[0]) for l in out.splitlines()
                if l.startswith("tps =")), 0.0)
    failed = next((int(l.split(":")[1].split()[0]) for l in out.splitlines()
                   if l.startswith("number of failed transactions")), 0)
    latencies.sort()

    def pct(p):
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000

    return {"req_per_s": tps, "requests": len(latencies), "errors": failed,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "p999_ms": pct(99.9),
            "mean_ms": (sum(latencies) / len(latencies) / 1000) if latencies else 0.0}


def run(parley, topo, settings, rundir):
    reader = topo.users[0]
    log(f"history: generating {settings.history_messages} messages in "
        f"{settings.history_convs} conversations")
    data = generate(parley, reader, settings)
    log(f"history: generated {data['messages']} messages in {data['seconds']:.0f} s")
    check_page(parley, reader)
    secs = settings.history_seconds
    if settings.history_warmup:
        warm = max(1, min(3, secs // 2))
        wrk(parley, reader, settings, warm)
        pgbench(parley, reader, settings, warm, rundir / "pgbench")
    runs = {"http": [], "sql": []}
    for rnd in range(settings.rounds):
        # Alternate which goes first.
        order = ("http", "sql") if rnd % 2 == 0 else ("sql", "http")
        for kind in order:
            if kind == "http":
                r = wrk(parley, reader, settings, secs)
            else:
                r = pgbench(parley, reader, settings, secs, rundir / "pgbench")
            r["round"] = rnd
            runs[kind].append(r)
            log(f"round {rnd + 1}/{settings.rounds} history {kind:<4}"
                f" {r['req_per_s']:.0f} req/s p50 {r['p50_ms']:.2f} ms"
                f" p99 {r['p99_ms']:.2f} ms errors {r['errors']}")
    median = {kind: {k: statistics.median(r[k] for r in rs)
                     for k in ("req_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms")}
              for kind, rs in runs.items()}
    for kind, rs in runs.items():
        median[kind]["errors"] = sum(r["errors"] for r in rs)
        median[kind]["requests"] = sum(r["requests"] for r in rs)
    return {"data": data, "clients": settings.history_clients, "seconds": secs,
            "runs": runs, "median": median}
