"""procs.py - processes for the benchmarks: free ports, readings from /proc,
a registry that stops whatever was started (even when the run fails), and
running the load generator.

Every server the benchmarks start is registered with a Cleanup; run.py
calls Cleanup.run() from a finally clause and from SIGINT/SIGTERM/SIGHUP
handlers, so nothing outlives a run.
"""

import ctypes
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PSQL = str(PG_BIN / "psql") if (PG_BIN / "psql").exists() else "psql"
PGBENCH = str(PG_BIN / "pgbench") if (PG_BIN / "pgbench").exists() else "pgbench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark could not run (a server did not start, a tool failed)."""


def log(msg):
    """Progress goes to stderr; stdout carries only the final table."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cleanup


class Cleanup:
    """Callables run once, last registered first."""

    def __init__(self):
        self._actions = []

    def add(self, what, fn):
        self._actions.append((what, fn))
        return fn

    def remove(self, fn):
        self._actions = [(w, f) for (w, f) in self._actions if f is not fn]

    def run(self):
        while self._actions:
            what, fn = self._actions.pop()
            try:
                fn()
            except Exception as e:  # keep stopping the others
                log(f"cleanup of {what} failed: {e}")


# ---------------------------------------------------------------- ports


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(count=1):
    """A port N with N..N+count-1 free on 127.0.0.1, below the kernel's
    ephemeral range so that the load generator's outgoing connections
    cannot take it first."""
    low, high = 20000, 32768
    try:
        eph = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        if eph > low + 1000:
            high = eph
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(1000):
        base = random.randrange(low, high - count)
        if all(_port_free(p) for p in range(base, base + count)):
            return base
    raise BenchError("no free ports on 127.0.0.1")


def wait_port(port, timeout=15.0, proc=None):
    """Waits until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"process {proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing answers on 127.0.0.1:{port} after {timeout:g}s")


# ---------------------------------------------------------------- limits


def raise_fd_limit(wanted):
    """The `ulimit -n` of this process and so of every server it starts:
    the soft limit to at least `wanted` (raising the hard limit too when
    root).  Returns the soft limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted and os.geteuid() == 0:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = wanted
        hard = min(wanted, nr_open)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    new_soft = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    except (OSError, ValueError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- /proc


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks; None if
    it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid):
    t = cpu_ticks(pid)
    return None if t is None else t / CLK_TCK


def memory_kb(pid):
    """(VmRSS, VmHWM) of a process in kB; (None, None) if it is gone."""
    rss = hwm = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


# ---------------------------------------------------------------- children

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if the benchmark dies (even from
    SIGKILL), so a bare broker never outlives it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def start_server(argv, log_path, cleanup, what, env=None, cwd=None):
    """Starts a long-running child with its output in log_path, tied to our
    lifetime, and registers its stop with cleanup.  Returns the Popen."""
    logf = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                            stderr=subprocess.STDOUT, env=env, cwd=cwd,
                            preexec_fn=_die_with_parent)
    logf.close()

    def stop():
        stop_process(proc)

    cleanup.add(what, stop)
    proc.bench_stop = stop
    return proc


def stop_process(proc, timeout=10.0):
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ---------------------------------------------------------------- tools


def run(argv, timeout, what, env=None, cwd=None, input=None):
    """Runs a tool to completion; returns its stdout.  Raises BenchError
    with its stderr on failure or timeout."""
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{what} did not finish in {timeout:g}s") from e
    except FileNotFoundError as e:
        raise BenchError(f"{argv[0]} not found (install it: see docs/PERFORMANCE.md)") from e
    if proc.returncode != 0:
        raise BenchError(f"{what} failed ({proc.returncode}): "
                         f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout


def psql(url, sql, timeout=600, variables=None):
    """Runs SQL with psql (ON_ERROR_STOP); returns the unaligned, tuples-only
    output of the last statement, stripped."""
    argv = [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for k, v in (variables or {}).items():
        argv += ["-v", f"{k}={v}"]
    argv.append(url)
    return run(argv, timeout, "psql", input=sql).strip()


class Loadgen:
    """The C load generator (build/bench/parley-loadgen)."""

    def __init__(self, path):
        self.path = str(path)
        if not os.access(self.path, os.X_OK):
            raise BenchError(f"{self.path} not found; run make bench-tools")

    def argv(self, plan, port, **opts):
        argv = [self.path, "--plan", str(plan), "--port", str(port)]
        for key, value in opts.items():
            if value is None or value is False:
                continue
            flag = "--" + key.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        return argv

    def flow(self, plan, port, timeout=300, **opts):
        """Runs one flow measurement; returns its JSON result.  A failed
        client (status 1) raises with the tool's message."""
        argv = self.argv(plan, port, mode="flow", **opts)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"parley-loadgen did not finish in {timeout}s") from e
        result = _last_json(proc.stdout)
        if proc.returncode not in (0, 3) or result is None:
            raise BenchError(f"parley-loadgen failed ({proc.returncode}): "
                             f"{proc.stderr.strip()[-1500:]}")
        result["status"] = proc.returncode
        return result

    def connect_and_hold(self, plans, port, on_ready, timeout=300, **opts):
        """Connects every client of the plans, one load generator process per
        plan (libmosquitto takes three descriptors per client, so a process
        holds at most a third of the fd limit), keeps them all connected while
        on_ready(results) runs, then closes them.  Returns (results, whatever
        on_ready returned); results has one JSON result per process."""
        procs = []
        try:
            for plan in plans:
                argv = self.argv(plan, port, mode="connect", hold=True, **opts)
                procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True))
            results = []
            for proc in procs:
                result = _last_json(proc.stdout.readline())
                if result is None:
                    proc.wait(10)
                    raise BenchError(f"parley-loadgen connect failed ({proc.returncode}): "
                                     f"{proc.stderr.read().strip()[-1500:]}")
                results.append(result)
            extra = on_ready(results)
            for proc in procs:
                proc.stdin.close()
            for proc, result in zip(procs, results):
                proc.wait(timeout)
                if proc.returncode != 0 and not result.get("error"):
                    result["error"] = proc.stderr.read().strip()[-500:]
            return results, extra
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)


def _last_json(text):
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


class SqlSession:
    """One psql process kept open: queries answer in about a millisecond
    instead of a new connection's tens (for polling a counter), and a
    transaction can stay open between calls (for holding a lock)."""

    _MARK = "__bench_done__"

    def __init__(self, url):
        self.proc = subprocess.Popen(
            [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)

    def query(self, sql):
        """Runs SQL (one or more statements) and returns the lines printed,
        without the trailing marker."""
        self.proc.stdin.write(f"{sql.rstrip().rstrip(';')};\n\\echo {self._MARK}\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise BenchError(f"psql session ended: {self.proc.stderr.read()[-500:]}")
            line = line.rstrip("\n")
            if line == self._MARK:
                return lines
            if line:
                lines.append(line)

    def value(self, sql):
        lines = self.query(sql)
        return lines[-1] if lines else None

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
