"""Fixtures for Parley's fault-injection tests (`make test-faults`).

Each scenario runs on a private stack of its own (PostgreSQL, mosquitto +
parley.so, parley-api on free ports in a temporary directory), started with
the integration tests' `start_stack` so that it is stopped even if the test
process is killed, and always stopped when the test ends.  A directory is
kept when its test failed (or with PARLEY_KEEP_STACK=1) and named in the
summary, which also lists each scenario's figures:

    scenario: sent=N accepted=N stored=N duplicates=N lost=N

Fixtures:
  fault_stack   factory: fault_stack(**plugin_opts) -> a running parley.Stack
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
for _path in (str(HERE), str(INTEGRATION)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import parley  # noqa: E402

# The integration conftest holds start_stack and the exit-time safety net;
# loaded under its own name, since this file is "conftest" too.
_spec = importlib.util.spec_from_file_location("parley_integration_conftest",
                                               INTEGRATION / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)

import faultload  # noqa: E402

if os.environ.get("PARLEY_SAN") == "1" and "PARLEY_TEST_TIMEOUT" not in os.environ:
    parley.DEFAULT_TIMEOUT = 30.0

SUMMARY = faultload.SUMMARY  # scenario lines and kept directories


@pytest.fixture
def fault_stack(request):
    """Factory: fault_stack(**plugin_opts) starts a private stack whose
    plugin gets the given options (plugin_opt_<name> <value>); every stack
    started is stopped after the test (a frozen database is thawed first)."""
    started = []

    def _start(**plugin_opts):
        tmp = Path(tempfile.mkdtemp(prefix="parley-fault-"))
        env = parley.stack_environment()
        if plugin_opts:
            env["PARLEY_PLUGIN_OPTS"] = "\n".join(f"plugin_opt_{k} {v}"
                                                  for k, v in plugin_opts.items())
        try:
            s = integration.start_stack(tmp / "stack", run_env=env)
        except parley.StackError as e:
            SUMMARY.append(f"fault stack directory kept: {tmp}")
            pytest.fail(f"could not start a private stack in {tmp}:\n{e}", pytrace=False)
        started.append((s, tmp))
        return s

    failed_before = request.session.testsfailed
    yield _start
    for s, tmp in started:
        faultload.thaw_database(s)
        s.down()
        integration.forget_stack(s)
        failed = request.session.testsfailed > failed_before
        reports = s.sanitizer_reports()
        if failed or reports or os.environ.get("PARLEY_KEEP_STACK") == "1":
            SUMMARY.append(f"fault stack directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if reports:
            pytest.fail("sanitizer reports in the stack's logs:\n" + "\n".join(reports[:50]),
                        pytrace=False)


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("fault scenarios")
        for line in SUMMARY:
            terminalreporter.write_line(line)
