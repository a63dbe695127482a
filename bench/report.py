"""report.py - the benchmark tables (plain text for the terminal, Markdown for
docs/PERFORMANCE.md) and the verdict on each performance goal.
"""


def _f(v, fmt="{:.0f}", none="-"):
    return none if v is None else fmt.format(v)


def _table(headers, rows, markdown):
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def mqtt_table(mqtt, markdown=False):
    headers = ["case", "peer", "delivered/s", "published/s", "p50 ms", "p99 ms",
               "p99.9 ms", "CPU us/msg", "CPU us/pub", "DB CPU us/pub", "RSS MB", "lost",
               "stored/sent", "ack p50 ms", "ack p99 ms", "gen CPU %"]
    rows = []
    for case in mqtt["cases"]:
        for peer, m in mqtt["median"].get(case, {}).items():
            stored = (f"{m['stored']}/{m['sent']}"
                      if m.get("stored") is not None else "-")
            rows.append([case, peer, _f(m["deliver_per_s"]), _f(m["accept_per_s"]),
                         _f(m["p50_ms"], "{:.2f}"),
                         _f(m["p99_ms"], "{:.2f}"), _f(m["p999_ms"], "{:.2f}"),
                         _f(m["cpu_us_per_msg"], "{:.1f}"),
                         _f(m["cpu_us_per_publish"], "{:.1f}"),
                         _f(m["db_cpu_us_per_publish"], "{:.1f}"), _f(m["rss_mb"], "{:.1f}"),
                         m["lost"], stored, _f(m["ack_p50_ms"], "{:.2f}"),
                         _f(m["ack_p99_ms"], "{:.2f}"), _f(m["loadgen_cpu_pct"])])
    return _table(headers, rows, markdown)


def connections_table(conn, markdown=False):
    headers = ["peer", "open", "connects/s", "connect p50 ms", "connect p99 ms",
               "CPU us/connect", "RSS MB", "bytes/connection"]
    rows = [[peer, _f(m["connections"]), _f(m["connects_per_s"]),
             _f(m["connect_p50_ms"], "{:.2f}"), _f(m["connect_p99_ms"], "{:.2f}"),
             _f(m["cpu_us_per_connect"], "{:.0f}"), _f(m["rss_kb"] / 1024, "{:.1f}"),
             _f(m["bytes_per_connection"])]
            for peer, m in conn["median"].items()]
    return _table(headers, rows, markdown)


def persistence_table(p, markdown=False):
    f, d, c, s = p["flood"], p["drain"], p["copy"], p["single"]
    headers = ["path", "rows", "rows/s", "note"]
    rows = [
        ["Parley writer, while flooding", f["stored"], _f(f["stored_per_s"]),
         f"ingest {f['ingest_per_s']:.0f} msg/s, backlog at end {f['backlog_at_end']}, "
         f"caught up {f['catch_up_s']:.1f} s later"],
        ["Parley writer, draining a backlog", d["rows"], _f(d["rows_per_s"]),
         f"{d['seconds']:.2f} s, batches of up to batch_max"],
        ["raw COPY, one transaction", c["rows"], _f(c["rows_per_s"]), "the ceiling"],
    ]
    if p.get("copy_batched"):
        cb = p["copy_batched"]
        rows.append([f"raw COPY, {cb['batch']}-row transactions", cb["rows"],
                     _f(cb["rows_per_s"]), "the ceiling for batches of batch_max"])
    rows += [
        ["single-row INSERTs, autocommit", s["rows"], _f(s["rows_per_s"]),
         "the naive baseline"],
    ]
    return _table(headers, rows, markdown)


def _writer_ratios(p):
    text = f"writer (draining) / raw COPY: {p['writer_vs_copy']:.0%}"
    if p.get("copy_batched"):
        text += (f"; / COPY in {p['copy_batched']['batch']}-row transactions: "
                 f"{p['drain']['rows_per_s'] / p['copy_batched']['rows_per_s']:.0%}")
    return text


def history_table(h, markdown=False):
    headers = ["path", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors"]
    rows = []
    for kind, label in (("http", "HTTP, wrk"), ("sql", "same SQL, pgbench")):
        m = h["median"][kind]
        rows.append([label, _f(m["req_per_s"]), _f(m["p50_ms"], "{:.2f}"),
                     _f(m["p90_ms"], "{:.2f}"), _f(m["p99_ms"], "{:.2f}"),
                     _f(m["p999_ms"], "{:.2f}"), m["errors"]])
    return _table(headers, rows, markdown)


def _case(mqtt, *names):
    for name in names:
        if mqtt and name in mqtt["median"]:
            return name, mqtt["median"][name]
    return None, None


def goals(results):
    """[(held: bool or None when not measured, goal, evidence)]."""
    out = []
    mqtt = results.get("mqtt")
    name, sat = _case(mqtt, "fanin q1 max")
    if sat and "bare" in sat and "parley" in sat:
        b, p = sat["bare"], sat["parley"]
        ratio = p["deliver_per_s"] / b["deliver_per_s"] if b["deliver_per_s"] else 0
        all_stored = p["stored"] is not None and p["stored"] >= p["sent"]
        out.append((ratio >= 0.9 and all_stored and p["lost"] == 0,
                    "saturation with Parley >= 90% of bare, QoS 1, 10->1, every message stored",
                    f"{p['deliver_per_s']:.0f} vs {b['deliver_per_s']:.0f} msg/s = {ratio:.0%}; "
                    f"stored {p['stored']} of {p['sent']} sent, lost {p['lost']}"))
    else:
        out.append((None, "saturation with Parley >= 90% of bare", "not measured"))
    name, fixed = _case(mqtt, "fanin q1 max", "fanin q1 10000/s")
    cpu = ([fixed[k].get("cpu_us_per_publish") for k in ("bare", "dynsec", "parley")]
           if fixed and all(k in fixed for k in ("bare", "dynsec", "parley")) else [None])
    if all(v for v in cpu):  # a short run may read no CPU time at all
        b, d, p = cpu
        evidence = (f"{name}: parley {p:.1f}, bare {b:.1f} ({p / b:.2f}x), "
                    f"dynsec {d:.1f} us/msg")
        # The same at one rate for all, where flat out compares unequal loads.
        _, same = _case(mqtt, "fanin q1 10000/s")
        same_cpu = ([same[k].get("cpu_us_per_publish") for k in ("bare", "dynsec", "parley")]
                    if same and all(k in same for k in ("bare", "dynsec", "parley")) else [None])
        if name != "fanin q1 10000/s" and all(v for v in same_cpu):
            sb, sd, sp = same_cpu
            evidence += (f"; at 10,000 msg/s (not the verdict): parley {sp:.1f}, bare {sb:.1f} "
                         f"({sp / sb:.2f}x), dynsec {sd:.1f}")
        # The per-delivery ACL, where Parley and dynamic-security do the
        # same work per delivery, at one publish rate for all three.
        fan = [(n, m) for n, m in (mqtt["median"].items() if mqtt else ())
               if n.startswith("fanout q1 ") and not n.endswith(" max")
               and all(m.get(k, {}).get("cpu_us_per_msg") for k in ("bare", "dynsec", "parley"))]
        for fname, fm in fan[:1]:
            fb, fd, fp = (fm[k]["cpu_us_per_msg"] for k in ("bare", "dynsec", "parley"))
            evidence += (f"; {fname} per delivery (not the verdict): parley {fp:.1f}, "
                         f"bare {fb:.1f} ({fp / fb:.2f}x), dynsec {fd:.1f}")
        out.append((p <= 1.3 * b and p < d,
                    "broker CPU per message <= 1.3x bare and below dynamic-security",
                    evidence))
    else:
        out.append((None, "broker CPU per message", "not measured"))
    name, fixed = _case(mqtt, "fanin q1 10000/s")
    if fixed and "bare" in fixed and "parley" in fixed:
        b, p = fixed["bare"], fixed["parley"]
        delta = p["p99_ms"] - b["p99_ms"]
        out.append((delta <= 1.0, "p99 latency at 10,000 msg/s within 1 ms of bare",
                    f"parley {p['p99_ms']:.2f} ms, bare {b['p99_ms']:.2f} ms "
                    f"(+{delta:.2f} ms); delivered {p['deliver_per_s']:.0f} msg/s"))
        ack = p.get("ack_p99_ms")
        out.append((ack is not None and ack <= 50, "publish-to-ack p99 <= 50 ms",
                    f"{_f(ack, '{:.1f}')} ms at 10,000 msg/s (p50 {_f(p.get('ack_p50_ms'), '{:.1f}')} ms)"))
    else:
        out.append((None, "p99 latency at 10,000 msg/s within 1 ms of bare", "not measured"))
        out.append((None, "publish-to-ack p99 <= 50 ms", "not measured"))
    pers = results.get("persistence")
    if pers:
        r = pers["writer_vs_copy"]
        out.append((r >= 0.8, "writer >= 80% of raw COPY rows/s, synchronous_commit on",
                    f"{pers['drain']['rows_per_s']:.0f} vs {pers['copy']['rows_per_s']:.0f} "
                    f"rows/s = {r:.0%}"))
    else:
        out.append((None, "writer >= 80% of raw COPY", "not measured"))
    hist = results.get("history")
    if hist:
        m = hist["median"]["http"]
        out.append((m["p99_ms"] <= 5 and m["req_per_s"] >= 6000 and m["errors"] == 0,
                    f"history over HTTP p99 <= 5 ms at {hist['clients']} clients and "
                    ">= 6,000 req/s",
                    f"p99 {m['p99_ms']:.2f} ms, {m['req_per_s']:.0f} req/s "
                    f"(pgbench: p99 {hist['median']['sql']['p99_ms']:.2f} ms, "
                    f"{hist['median']['sql']['req_per_s']:.0f} tx/s)"))
    else:
        out.append((None, "history over HTTP", "not measured"))
    conn = results.get("connections")
    if conn and "parley" in conn["median"] and "bare" in conn["median"]:
        p = conn["median"]["parley"]["bytes_per_connection"]
        b = conn["median"]["bare"]["bytes_per_connection"]
        out.append((p - b <= 2048, "plugin memory <= 2 KB per connected client",
                    f"{p - b:.0f} B (parley {p:.0f} - bare {b:.0f} B per connection, "
                    f"{conn['target']} connections)"))
    else:
        out.append((None, "plugin memory per client", "not measured"))
    return out


def render(results, markdown=False):
    meta = results["meta"]
    h = "### " if markdown else ""
    parts = [f"{'## ' if markdown else ''}Parley benchmarks: {meta['machine']}, {meta['date']}",
             f"{meta['rounds']} rounds, medians; MQTT runs {meta['duration']:g} s each after "
             f"{meta['warmup']:g} s warm-up; body {meta['body']} characters"]
    if results.get("mqtt"):
        parts += ["", f"{h}MQTT: delivered messages, latency, broker cost", "",
                  mqtt_table(results["mqtt"], markdown)]
    if results.get("connections"):
        c = results["connections"]
        parts += ["", f"{h}Connections ({c['target']} open at once)", "",
                  connections_table(c, markdown)]
    if results.get("persistence"):
        parts += ["", f"{h}Persistence (synchronous_commit on)", "",
                  persistence_table(results["persistence"], markdown),
                  "", _writer_ratios(results["persistence"])]
    if results.get("history"):
        hist = results["history"]
        parts += ["", f"{h}History ({hist['data']['messages']} messages in "
                      f"{hist['data']['conversations']} conversations, "
                      f"{hist['clients']} concurrent clients)", "",
                  history_table(hist, markdown)]
    try:
        verdicts = goals(results)
    except (KeyError, TypeError, ZeroDivisionError) as e:
        # A figure a short or disturbed run could not take: say so rather
        # than lose the whole report.
        verdicts = [(None, "goals", f"not evaluated: a figure is missing ({e!r})")]
    parts += ["", f"{h}Goals", ""]
    for held, goal, evidence in verdicts:
        mark = {True: "held", False: "MISSED", None: "n/a"}[held]
        parts.append(f"{'- ' if markdown else ''}[{mark}] {goal}: {evidence}")
    for section, err in results.get("failed", {}).items():
        parts.append(f"{'- ' if markdown else ''}[FAILED] section {section}: {err}")
    return "\n".join(parts) + "\n"
