"""persistence.py - rows per second into Parley's messages table, three ways:

  writer, flooding   ten publishers flood Parley (QoS 1, flat out, no
                     subscribers); the stored-row count is sampled every
                     0.25 s.  If the backlog stays small the writer kept up
                     and the figure is the broker's ingest rate, not the
                     writer's ceiling.
  writer, draining   the table is held with LOCK TABLE ... IN SHARE MODE
                     while the publishers flood, so the accepted messages
                     queue in the plugin; then the lock is released and the
                     time the writer takes to store them all gives its
                     ceiling: full batches, nothing else competing.
  raw COPY           the same number of rows of the same shape, one COPY
                     FROM STDIN (one transaction): the ceiling for the table;
                     and again in 1000-row COPYs, each committed, the ceiling
                     for a writer that commits batches of batch_max.
  single INSERTs     one INSERT per row, each its own transaction: the naive
                     baseline.

All with synchronous_commit on (the stack's default).  The stored-row count
is change_counter, which the writer advances by one per stored message.
"""

import secrets
import threading
import time
from datetime import datetime, timezone

import procs
import shapes
from procs import BenchError, SqlSession, log

PARLEY_EPOCH_MS = 1704067200000
COLUMNS = "id, conv_id, sender_id, txn, type, body, extra, ts, seq"
WRITER_BATCH = 1000  # the plugin's default batch_max


def parley_id(ms, node, seq):
    return ((ms - PARLEY_EPOCH_MS) << 22) | (node << 12) | seq


def _rows(n, conv, senders, node, tag, body):
    """n message rows as the writer would store them, ids minted for node
    (not the broker's node 0) at one row per id sequence number."""
    base = int(time.time() * 1000) - 3 * 86400 * 1000
    for i in range(n):
        ms = base + i // 4096
        ts = datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")
        yield (parley_id(ms, node, i % 4096), conv, senders[i % len(senders)],
               f"{tag}_{i}", "text", body, "{}", ts)


def _sampler(session, samples, stop):
    while not stop.is_set():
        samples.append((time.monotonic(), int(session.value("SELECT value FROM change_counter"))))
        stop.wait(0.25)


def flood(parley, plan, loadgen, settings, session):
    start = int(session.value("SELECT value FROM change_counter"))
    samples, stop = [], threading.Event()
    thread = threading.Thread(target=_sampler, args=(session, samples, stop), daemon=True)
    thread.start()
    try:
        res = loadgen.flow(plan, parley.port, qos=1, rate=0, window=100000,
                           warmup=0, duration=settings.flood_seconds, drain=5,
                           body=settings.body, run_id="f" + secrets.token_hex(4),
                           broker_pid=parley.pid, db_pid=parley.db_pid,
                           timeout=settings.flood_seconds + 120)
        t_exit = time.monotonic()
    finally:
        stop.set()
        thread.join()
    accepted = res["accepted"] - res["refused"]
    # Rate over the flood itself: the samples of its last `duration` seconds
    # (the load generator exits as soon as its window ends).
    inside = [s for s in samples if t_exit - settings.flood_seconds + 0.25 <= s[0] <= t_exit]
    if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
        stored_rate = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
    else:
        stored_rate = 0.0
    at_end = (samples[-1][1] - start) if samples else 0
    t0 = time.monotonic()
    stored = parley.wait_stored(start, accepted, timeout=120)
    return {"sent": res["sent"], "accepted": accepted, "ingest_per_s": res["accept_per_s"],
            "stored_per_s": stored_rate, "backlog_at_end": accepted - at_end,
            "catch_up_s": time.monotonic() - t0, "stored": stored,
            "broker_cpu_us_per_msg": (res["broker_cpu_us"] / res["accepted_window"]
                                      if res["accepted_window"] else None),
            "db_cpu_us_per_msg": (res["db_cpu_us"] / res["accepted_window"]
                                  if res["accepted_window"] else None)}


def drain(parley, plan, loadgen, settings, session):
    lock = SqlSession(parley.db_url)
    try:
        lock.query("BEGIN; LOCK TABLE messages IN SHARE MODE")
        start = int(session.value("SELECT value FROM change_counter"))
        res = loadgen.flow(plan, parley.port, qos=1, rate=0, window=100000,
                           warmup=0, duration=settings.drain_seconds, drain=5,
                           body=settings.body, run_id="d" + secrets.token_hex(4),
                           broker_pid=parley.pid, timeout=settings.drain_seconds + 120)
        accepted = res["accepted"] - res["refused"]
        time.sleep(0.5)  # the writer is blocked on its first batch
        held = int(session.value("SELECT value FROM change_counter")) - start
        if held:
            raise BenchError(f"the writer stored {held} rows through the lock")
        lock.query("COMMIT")
        t0 = time.monotonic()
        stored = 0
        deadline = t0 + 300
        while stored < accepted and time.monotonic() < deadline:
            stored = int(session.value("SELECT value FROM change_counter")) - start
            if stored < accepted:
                time.sleep(0.01)
        elapsed = time.monotonic() - t0
    finally:
        lock.close()
    if stored < accepted:
        raise BenchError(f"writer stored {stored} of {accepted} rows in 300 s")
    return {"rows": accepted, "refused": res["refused"], "seconds": elapsed,
            "rows_per_s": accepted / elapsed}


def raw_copy(parley, conv, senders, n, body, batch=None, node=1023):
    """COPY of n rows: one COPY (one transaction), or with batch, one COPY
    per batch rows (each its own transaction, as the writer commits).  The
    time is psql's \\timing of the COPY commands, the rows prepared first."""
    rows = ["\t".join(map(str, r)) + "\t\\N\n"
            for r in _rows(n, conv, senders, node, "cp" + secrets.token_hex(3), body)]
    step = batch or n
    script = ["\\timing on\n"]
    for i in range(0, n, step):
        script.append(f"COPY messages ({COLUMNS}) FROM STDIN;\n")
        script.extend(rows[i:i + step])
        script.append("\\.\n")
    out = procs.run([procs.PSQL, "-X", "-v", "ON_ERROR_STOP=1", parley.db_url], 600,
                    "COPY", input="".join(script))
    ms = _times_ms(out)
    if len(ms) != -(-n // step):
        raise BenchError(f"expected {-(-n // step)} timings from psql: {out[-300:]}")
    return {"rows": n, "batch": step, "seconds": sum(ms) / 1000,
            "rows_per_s": n / (sum(ms) / 1000)}


def single_inserts(parley, conv, senders, n, body):
    lines = ["\\timing on"]
    for r in _rows(n, conv, senders, 1021, "si" + secrets.token_hex(3), body):
        lines.append(f"INSERT INTO messages ({COLUMNS}) VALUES ({r[0]}, '{r[1]}', "
                     f"'{r[2]}', '{r[3]}', '{r[4]}', '{r[5]}', '{r[6]}', '{r[7]}', NULL);")
    out = procs.run([procs.PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", parley.db_url], 600,
                    "single-row INSERTs", input="\n".join(lines) + "\n")
    ms = _times_ms(out)
    if len(ms) != n:
        raise BenchError(f"expected {n} timings from psql, got {len(ms)}")
    return {"rows": n, "seconds": sum(ms) / 1000, "rows_per_s": n / (sum(ms) / 1000)}


def _times_ms(out):
    return [float(line.split()[1]) for line in out.splitlines() if line.startswith("Time: ")]


def run(parley, topo, loadgen, settings, rundir):
    plan = shapes.write_plan(rundir / "ingest-parley.plan", topo, "ingest", parley)
    conv = topo.conv("fanin")
    senders = conv["members"][1:11]
    body = "".join(chr(ord("a") + i % 26) for i in range(settings.body))
    session = SqlSession(parley.db_url)
    try:
        log("persistence: flooding the writer")
        f = flood(parley, plan, loadgen, settings, session)
        log(f"persistence: flood {f['ingest_per_s']:.0f} msg/s in,"
            f" {f['stored_per_s']:.0f} rows/s stored, backlog {f['backlog_at_end']}")
        log("persistence: holding the table, then draining")
        d = drain(parley, plan, loadgen, settings, session)
        log(f"persistence: drained {d['rows']} rows at {d['rows_per_s']:.0f} rows/s")
    finally:
        session.close()
    n_copy = max(d["rows"], settings.copy_min_rows)
    c = raw_copy(parley, conv["id"], senders, n_copy, body)
    log(f"persistence: COPY {c['rows']} rows at {c['rows_per_s']:.0f} rows/s")
    cb = raw_copy(parley, conv["id"], senders, n_copy, body, batch=WRITER_BATCH, node=1017)
    log(f"persistence: COPY in {WRITER_BATCH}-row transactions at {cb['rows_per_s']:.0f} rows/s")
    s = single_inserts(parley, conv["id"], senders, settings.single_inserts, body)
    log(f"persistence: {s['rows']} single INSERTs at {s['rows_per_s']:.0f} rows/s")
    return {"flood": f, "drain": d, "copy": c, "copy_batched": cb, "single": s,
            "writer_vs_copy": d["rows_per_s"] / c["rows_per_s"]}
