"""Fixtures for Parley's integration tests.

`make integration` runs `/usr/bin/python3 -m pytest -q tests/integration`
with PARLEY_BUILD (build or build/san) and PARLEY_SAN (0/1); `make
check-valgrind` runs some of them with PARLEY_VALGRIND=1 and the broker under
valgrind (PARLEY_BROKER_WRAPPER), whose logs it checks itself.  One stack
(PostgreSQL, mosquitto + parley.so, parley-api) is started for the whole
session on free ports in a temporary directory and always stopped at the end.

Fixtures:
  stack   the session's parley.Stack (settings, logs, stop/start, sql)
  api     parley.Api on the stack's HTTP server
  mqtt    parley.Mqtt for the stack's broker; clients closed after each test
  admin   the admin, logged in (a parley.Account)

If the session fails, the stack's directory is kept and the tails of its
logs are shown; PARLEY_KEEP_STACK=1 keeps it always.  Sanitizer reports in
the logs fail the session.
"""

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import parley  # noqa: E402

# Sanitized binaries are slower, and a broker under valgrind (PARLEY_VALGRIND,
# set by `make check-valgrind`) 20-50 times slower; waits are only bounds, so
# widen them.
if "PARLEY_TEST_TIMEOUT" not in os.environ:
    if os.environ.get("PARLEY_VALGRIND") == "1":
        parley.DEFAULT_TIMEOUT = 120.0
    elif os.environ.get("PARLEY_SAN") == "1":
        parley.DEFAULT_TIMEOUT = 30.0

_REPORT = []  # lines for the terminal summary
_STACKS = []  # stacks to stop if the process exits without teardown


def _stop_leftovers():
    for stack in _STACKS:
        if stack.running:
            stack.down()


def _on_signal(signum, frame):
    _stop_leftovers()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_stop_leftovers)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def start_stack(dir, port_base=None, run_env=None):
    """Starts a stack (see parley.Stack.start) that is stopped even if the
    test process is killed with SIGTERM or exits early.  The caller still
    calls stack.down()."""
    guard = parley.Stack(dir, port_base)  # `down` needs only the directory
    guard.running = True
    _STACKS.append(guard)
    try:
        started = parley.Stack.start(dir, port_base, run_env)
    except parley.StackError:
        guard.down()  # up stops what it started; this makes sure
        raise
    finally:
        _STACKS.remove(guard)
    _STACKS.append(started)
    return started


def forget_stack(stack):
    """Drops a stopped stack from the exit-time safety net."""
    if stack in _STACKS:
        _STACKS.remove(stack)


@pytest.fixture(scope="session")
def stack(request):
    tmp = Path(tempfile.mkdtemp(prefix="parley-it-"))
    keep = os.environ.get("PARLEY_KEEP_STACK") == "1"
    try:
        s = start_stack(tmp / "stack")
    except parley.StackError as e:
        _REPORT.append(f"stack directory kept: {tmp}")
        pytest.fail(f"could not start the stack:\n{e}", pytrace=False)
    try:
        yield s
    finally:
        out = s.down()
        forget_stack(s)
        failed = request.session.testsfailed > 0
        reports = s.sanitizer_reports()
        if failed or reports or keep:
            _REPORT.append(f"stack directory kept: {tmp}")
        if failed or reports:
            _REPORT.append(s.log_tails())
            _REPORT.append(f"---- scripts/stack down ----\n{out}")
        elif not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        if reports:
            pytest.fail("sanitizer reports in the stack's logs:\n" + "\n".join(reports[:50]),
                        pytrace=False)


@pytest.fixture(scope="session")
def api(stack):
    return stack.api()


@pytest.fixture
def mqtt(stack):
    m = stack.mqtt()
    yield m
    m.close_all()


@pytest.fixture
def admin(stack, api):
    return api.login(stack.admin_user, stack.admin_password)


def pytest_terminal_summary(terminalreporter):
    if _REPORT:
        terminalreporter.section("parley stack")
        for text in _REPORT:
            terminalreporter.write_line(text)
