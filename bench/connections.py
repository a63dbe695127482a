"""connections.py - connection benchmarks on every peer: connects per second
(each CONNECT checked: nothing for bare, a PBKDF2 password for dynamic
security, a JWT for Parley) and the broker's memory per connection with
N connections open at once (10,000 by default; every user connects from
many devices).

Each round restarts the broker first: glibc keeps freed memory, so a
broker that already held N connections would show almost no growth the
second time.  Memory per connection = (VmRSS with N open - VmRSS before)
/ N; the plugin's own share is Parley's figure minus bare mosquitto's.
"""

import statistics
import time

import procs
import shapes
from procs import BenchError, log


def run(peers, topo, loadgen, settings, rundir):
    n = settings.connections
    users = topo.users
    need = 3 * n + 1024  # the load generator: 3 per client
    limit = procs.raise_fd_limit(need)
    if limit < need:
        log(f"fd limit is {limit}, {need} wanted: connections may fail")
    runs = []
    for rnd in range(settings.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for peer in order:
            plan = shapes.write_connect_plan(rundir / f"connect-{peer.name}.plan",
                                             users, n, peer)
            if settings.fresh_brokers:
                peer.restart_broker()
                time.sleep(settings.settle)  # let a restarted plugin load its caches
            rss0, _ = procs.memory_kb(peer.pid)

            def measure(result, pid=peer.pid):
                time.sleep(settings.settle)  # let the broker finish what connects started
                return procs.memory_kb(pid)

            result, (rss1, hwm) = loadgen.connect_and_hold(
                plan, peer.port, measure, concurrency=settings.conn_concurrency,
                broker_pid=peer.pid, connect_timeout=120, timeout=300)
            if result.get("error") or result["ready"] == 0:
                raise BenchError(f"{peer.name}: connections failed: {result.get('error')}")
            ready = result["ready"]
            r = {
                "peer": peer.name, "round": rnd, "connections": ready,
                "connects_per_s": result["connects_per_s"],
                "connect_p50_ms": result["connect_us"]["p50"] / 1000,
                "connect_p99_ms": result["connect_us"]["p99"] / 1000,
                "cpu_us_per_connect": result["broker_cpu_us"] / ready,
                "rss_before_kb": rss0, "rss_kb": rss1, "hwm_kb": hwm,
                "bytes_per_connection": (rss1 - rss0) * 1024 / ready,
            }
            runs.append(r)
            log(f"round {rnd + 1}/{settings.rounds} connections {peer.name:<7}"
                f" {ready} open, {r['connects_per_s']:.0f} connects/s,"
                f" {r['bytes_per_connection']:.0f} B/connection")
    median = {}
    for peer in peers:
        rs = [r for r in runs if r["peer"] == peer.name]
        median[peer.name] = {k: statistics.median(r[k] for r in rs)
                             for k in ("connections", "connects_per_s", "connect_p50_ms",
                                       "connect_p99_ms", "cpu_us_per_connect",
                                       "bytes_per_connection", "rss_kb")}
    return {"target": n, "runs": runs, "median": median}
