"""connections.py - connection benchmarks on every peer: connects per second
(each CONNECT checked: nothing for bare, a PBKDF2 password for dynamic
security, a JWT for Parley) and the broker's memory per connection with
N connections open at once (10,000 by default; every user connects from
many devices).

The load generator needs three descriptors per client (libmosquitto opens
a socket pair per client besides its socket), so when the fd limit cannot
be raised (a container's hard limit) the connections are spread over
several load generator processes, started together; connects per second
is then all connections over the span from the first connect to the last
CONNACK of any of them (CLOCK_MONOTONIC is common to all processes).

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


def _split(n, fd_limit):
    """How many load generator processes, and clients in each, for n
    connections (3 descriptors per client, some to spare)."""
    per_proc = max(1, (fd_limit - 256) // 3)
    procs_needed = -(-n // per_proc)
    base, extra = divmod(n, procs_needed)
    return [base + (1 if i < extra else 0) for i in range(procs_needed)]


def run(peers, topo, loadgen, settings, rundir):
    n = settings.connections
    users = topo.users
    limit = procs.raise_fd_limit(3 * n + 1024)
    if limit < n + 1024:
        log(f"fd limit is {limit}: the broker cannot hold {n} connections")
    chunks = _split(n, limit)
    if len(chunks) > 1:
        log(f"connections: {len(chunks)} load generator processes (fd limit {limit})")
    runs = []
    for rnd in range(settings.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for peer in order:
            plans, first = [], 0
            for i, count in enumerate(chunks):
                plans.append(shapes.write_connect_plan(
                    rundir / f"connect-{peer.name}-{i}.plan", users, count, peer,
                    first=first))
                first += count
            if settings.fresh_brokers:
                peer.restart_broker()
                time.sleep(settings.settle)  # let a restarted plugin load its caches
            rss0, _ = procs.memory_kb(peer.pid)
            cpu0 = procs.cpu_ticks(peer.pid)

            def measure(results, pid=peer.pid):
                cpu1 = procs.cpu_ticks(pid)
                time.sleep(settings.settle)  # let the broker finish what connects started
                return cpu1, procs.memory_kb(pid)

            results, (cpu1, (rss1, hwm)) = loadgen.connect_and_hold(
                plans, peer.port, measure,
                concurrency=max(1, settings.conn_concurrency // len(plans)),
                connect_timeout=120, timeout=300)
            errors = [r["error"] for r in results if r.get("error")]
            ready = sum(r["ready"] for r in results)
            if errors or ready == 0:
                raise BenchError(f"{peer.name}: connections failed: {errors[:1]}")
            span = (max(r["connect_last_us"] for r in results)
                    - min(r["connect_first_us"] for r in results)) / 1e6
            r = {
                "peer": peer.name, "round": rnd, "connections": ready,
                "processes": len(results),
                "connects_per_s": ready / span if span > 0 else 0.0,
                # Per process percentiles: the median of their p50s, the
                # largest p99.
                "connect_p50_ms": statistics.median(x["connect_us"]["p50"]
                                                    for x in results) / 1000,
                "connect_p99_ms": max(x["connect_us"]["p99"] for x in results) / 1000,
                "cpu_us_per_connect": ((cpu1 - cpu0) / procs.CLK_TCK * 1e6 / ready
                                       if cpu0 is not None and cpu1 is not None else None),
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
    return {"target": n, "processes": len(chunks), "runs": runs, "median": median}
