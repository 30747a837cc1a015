"""A real `triage api` process on PostgreSQL + Redis, shared by the attack suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.support.processes import free_port, triage_process, wait_until_serving
from tests.support.servers import postgres_database, redis_url

SECURITY_REDIS_DB = 5  # the attack suite's own Redis database (broker and counters)


@dataclass(frozen=True)
class LiveApi:
    """A running `triage api`: where it listens, an admin key, its database and its log."""

    base_url: str
    admin_key: str
    database_url: str
    redis_url: str
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def start_live_api(
    directory: Path,
    *,
    extra_env: dict[str, str] | None = None,
    workers: int = 2,
    threads: int = 4,
    redis_db: int = SECURITY_REDIS_DB,
    server_args: tuple[str, ...] = (),
) -> Iterator[LiveApi]:
    """Start `triage api` on a fresh PostgreSQL database and a flushed Redis database."""
    import redis

    shared = redis_url(redis_db)  # skips without Redis locally, fails under CI
    redis.Redis.from_url(shared).flushdb()
    with postgres_database() as database:
        store = open_store(Settings(database_url=database))
        key = create_key(store, TEST_PEPPER.encode(), "attack-admin", Role.admin, "api")
        store.engine.dispose()
        port = free_port()
        env = {
            "TRIAGE_DATABASE_URL": database,
            "TRIAGE_BROKER_URL": shared,
            "TRIAGE_REDIS_URL": shared,
            "TRIAGE_API_KEY_PEPPER": TEST_PEPPER,
            "TRIAGE_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
            # Every attack comes from 127.0.0.1: the shared process must not lock it out
            # after the many wrong keys the suite sends (test_auth_abuse.py runs its own).
            "TRIAGE_AUTH_FAILURE_LIMIT": "100000/minute",
            **(extra_env or {}),
        }
        log = directory / "api.log"
        args = ["api", "--bind", f"127.0.0.1:{port}"]
        args += ["--workers", str(workers), "--threads", str(threads), *server_args]
        with triage_process(args, env, log) as process:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(f"{base}/healthz", process, log)
            yield LiveApi(base, key, database, shared, log, env)


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One real API process for the whole attack suite (stopped, database dropped, at the end)."""
    with start_live_api(tmp_path_factory.mktemp("live-api")) as api:
        yield api
