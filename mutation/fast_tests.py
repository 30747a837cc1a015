"""pytest plugin (`-p mutation.fast_tests`): run only the tests that need no server.

"No server" means no PostgreSQL, Redis or RabbitMQ, no process of ours started as a real
process (worker, API, beat, flower) and no browser. Tests are deselected at collection when:
- they carry the `integration` or `faults` marker;
- they are parametrized onto a server (a parameter value `postgresql` or `rabbitmq`; the
  `redis` parameters of the unit tests are fakeredis);
- their module, or a fixture they use, comes from a module that imports the process or
  browser helpers (tests.support.processes, tests.support.brokers, playwright).
Whatever slips through and asks for a server at run time is skipped, not failed (even under
CI=true): `tests.support.servers.require_server` is replaced by a skip, so no fast test ever
connects to a server.

Two environment variables serve mutation/run.py: MUTATION_DESELECT names a file of test ids
(one a line) that are deselected too (tests already failing before any mutation, e.g. under
another engineer's unfinished change), and MUTATION_FAILURES_OUT names a file to which the
id of every failing test is appended.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SERVER_MARKERS = ("integration", "faults")
SERVER_PARAMS = frozenset({"postgresql", "rabbitmq"})  # "redis" params here are fakeredis
SERVER_HELPERS = ("tests.support.processes", "tests.support.brokers", "playwright")


def _skip_servers(host: str, port: int, name: str) -> None:
    pytest.skip(f"test-fast: {name} is a server ({host}:{port})")


def pytest_configure(config: pytest.Config) -> None:
    """Swap the server check for a skip before any test module imports it."""
    from tests.support import servers

    servers.require_server = _skip_servers


def _uses_server_helpers(module: ModuleType | None) -> bool:
    if module is None:
        return False
    for value in vars(module).values():
        name = getattr(value, "__name__", "") if isinstance(value, ModuleType) else ""
        origin = name or getattr(value, "__module__", "") or ""
        if any(origin == h or origin.startswith(h + ".") for h in SERVER_HELPERS):
            return True
    return False


def needs_server(item: pytest.Item) -> str | None:
    """Why this test needs a server, or None."""
    for marker in SERVER_MARKERS:
        if item.get_closest_marker(marker) is not None:
            return f"marker {marker}"
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for value in callspec.params.values():
            if isinstance(value, str) and value in SERVER_PARAMS:
                return f"parameter {value}"
    if _uses_server_helpers(getattr(item, "module", None)):
        return "module starts processes"
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixturedef in defs:
            module = sys.modules.get(getattr(fixturedef.func, "__module__", ""))
            if _uses_server_helpers(module):
                return f"fixture {fixturedef.argname}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect every test that needs a server."""
    deselect_file = os.environ.get("MUTATION_DESELECT")
    known_failing = set(Path(deselect_file).read_text().split()) if deselect_file else set()
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        failing = item.nodeid in known_failing
        (drop if failing or needs_server(item) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record a failing test's id where MUTATION_FAILURES_OUT asks."""
    out = os.environ.get("MUTATION_FAILURES_OUT")
    if out and report.failed:
        with open(out, "a", encoding="utf-8") as file:
            file.write(report.nodeid + "\n")
