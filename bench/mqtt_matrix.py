"""mqtt_matrix.py - the MQTT comparison: every case (shape, QoS, flat out or
a fixed rate) on every peer, several rounds, peers alternating (the order
rotates each round so that none always runs first or last), medians kept.

Flat out means each publisher keeps a small window of messages not yet
delivered to every subscriber (and, on Parley, at most ack_window not yet
acked): mosquitto 2.0 reads one packet per socket per loop turn, so a
subscriber's PUBACKs are read ten times slower than ten publishers' PUBLISHes
in the 10 -> 1 shape; with a large window its queue passes
max_queued_messages (1000) and the broker drops messages.  The window keeps
every peer below that, so saturation is measured without loss.
"""

import secrets
import statistics

import shapes
from procs import log


class Case:
    def __init__(self, shape, qos, rate=0, window=4, ack_window=1000):
        self.shape, self.qos, self.rate = shape, qos, rate
        self.window, self.ack_window = window, ack_window

    @property
    def name(self):
        load = "max" if not self.rate else f"{self.rate:g}/s"
        return f"{self.shape} q{self.qos} {load}"


# Windows per shape (see the module comment): fan-out has one publisher
# whose messages each wait for 50 deliveries; groups have many publishers.
WINDOWS = {"fanin": 2, "fanout": 8, "groups": 1}


def cases(settings, topo):
    out = []
    for shape in settings.shapes:
        if not topo.has_shape(shape):
            continue
        for qos in settings.qos:
            out.append(Case(shape, qos, 0, WINDOWS[shape]))
    for shape, rates in (("fanin", settings.rates), ("fanout", settings.fanout_rates)):
        if not topo.has_shape(shape):
            continue
        for qos in settings.rate_qos:
            for rate in rates:
                out.append(Case(shape, qos, rate, WINDOWS[shape] if shape == "fanout" else 4))
    return out


def run_one(peer, case, plan, loadgen, settings, run_id):
    counter = peer.stored_counter() if hasattr(peer, "stored_counter") else None
    res = loadgen.flow(
        plan, peer.port, qos=case.qos, rate=case.rate, window=case.window,
        ack_window=case.ack_window, warmup=settings.warmup,
        duration=settings.duration, drain=settings.drain, body=settings.body,
        run_id=run_id, broker_pid=peer.pid, db_pid=peer.db_pid,
        require_delivery=True, timeout=settings.duration + settings.drain + 120)
    res["peer"], res["case"] = peer.name, case.name
    if counter is not None:
        # Every message the broker accepted (PUBACK, or for QoS 0 written to
        # its socket) and did not refuse on the inbox must end up stored.
        should = res["accepted"] - res["refused"]
        res["stored"] = peer.wait_stored(counter, should, timeout=settings.drain + 30)
        res["should_store"] = should
    return res


def run(peers, topo, loadgen, settings, rundir):
    """Returns {"cases": [names], "runs": [results], "median": {case: {peer:
    metrics}}}."""
    session = secrets.token_hex(3)
    todo = cases(settings, topo)
    plans = {}
    runs = []
    n = 0
    for rnd in range(settings.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for case in todo:
            for peer in order:
                key = (case.shape, peer.name)
                if key not in plans:
                    plans[key] = shapes.write_plan(
                        rundir / f"{case.shape}-{peer.name}.plan", topo, case.shape, peer)
                n += 1
                res = run_one(peer, case, plans[key], loadgen, settings,
                              f"m{session}n{n}")
                res["round"] = rnd
                runs.append(res)
                log(f"round {rnd + 1}/{settings.rounds} {case.name:<18} {peer.name:<7}"
                    f" {res['deliver_per_s']:>9.0f} msg/s"
                    f"  p99 {res['latency_us']['p99'] / 1000:.2f} ms"
                    f"  cpu {res['broker_cpu_us_per_msg']:.1f} us/msg"
                    f"  lost {res['lost']}"
                    + (f"  stored {res['stored']}/{res['should_store']}"
                       if "stored" in res else ""))
    return {"cases": [c.name for c in todo], "runs": runs,
            "median": summarize(runs)}


METRICS = {
    "deliver_per_s": lambda r: r["deliver_per_s"],
    "publish_per_s": lambda r: r["publish_per_s"],
    "p50_ms": lambda r: r["latency_us"]["p50"] / 1000,
    "p99_ms": lambda r: r["latency_us"]["p99"] / 1000,
    "p999_ms": lambda r: r["latency_us"]["p999"] / 1000,
    "accept_per_s": lambda r: r["accept_per_s"],
    # Broker CPU (all threads) per delivery, and per accepted publish: the
    # same in the 10 -> 1 shape unless the broker drops messages.
    "cpu_us_per_msg": lambda r: r["broker_cpu_us_per_msg"],
    "cpu_us_per_publish": lambda r: (r["broker_cpu_us"] / r["accepted_window"]
                                     if r["accepted_window"] else None),
    # PostgreSQL (postmaster and backends) per accepted publish: storing.
    "db_cpu_us_per_publish": lambda r: (r["db_cpu_us"] / r["accepted_window"]
                                        if r.get("db_processes") and r["accepted_window"]
                                        else None),
    "loadgen_cpu_pct": lambda r: r["loadgen_cpu_us"] / (r["window_s"] * 1e4),
    "rss_mb": lambda r: r["broker_rss_kb"] / 1024 if r["broker_rss_kb"] > 0 else None,
    "ack_p50_ms": lambda r: (r["ack_latency_us"]["p50"] / 1000
                             if r["ack_latency_us"]["count"] else None),
    "ack_p99_ms": lambda r: (r["ack_latency_us"]["p99"] / 1000
                             if r["ack_latency_us"]["count"] else None),
}

TOTALS = ("sent", "delivered", "expected", "lost", "duplicates", "refused", "acks",
          "unacked", "stored", "should_store")


def summarize(runs):
    out = {}
    for r in runs:
        out.setdefault(r["case"], {}).setdefault(r["peer"], []).append(r)
    summary = {}
    for case, by_peer in out.items():
        summary[case] = {}
        for peer, rs in by_peer.items():
            m = {"rounds": len(rs)}
            for key, get in METRICS.items():
                values = [v for v in (get(r) for r in rs) if v is not None]
                m[key] = statistics.median(values) if values else None
            for key in TOTALS:
                values = [r[key] for r in rs if key in r]
                m[key] = sum(values) if values else None
            errors = {}
            for r in rs:
                for code, count in r.get("errors", {}).items():
                    errors[code] = errors.get(code, 0) + count
            m["errors"] = errors
            summary[case][peer] = m
    return summary
