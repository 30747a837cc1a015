"""The baseline chains as systems under test: the minimal chain and the bare chain."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from bench.common import (
    PYTHON,
    redis_url,
)
from bench.processes import Service, start_service
from bench.systems import CONCURRENCY, EPOCHS, POOL


@dataclass
class Minimal:
    """The minimal chain: one UPDATE per stage, the same stub POST, the LLM latency slept."""

    dsn: str
    department_url: str
    log_dir: Path
    name: str = "minimal"
    worker: Service | None = None
    llm_s: float = 0.0
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        from bench.baselines.minimal_app import DDL

        self._db = psycopg.connect(self.dsn, autocommit=True)
        self._db.execute(DDL)
        self._submit_db = psycopg.connect(self.dsn)

    def start(self) -> None:
        env = {
            "BENCH_DSN": self.dsn,
            "BENCH_BROKER_URL": redis_url(),
            "BENCH_DEPARTMENT_URL": self.department_url,
        }
        argv = _celery_argv("minimal_chain")
        self.worker = start_service("worker-minimal", argv, env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        self.llm_s = seconds

    def submit(self) -> str:
        from bench.baselines import minimal_chain

        return minimal_chain.submit(self._submit_db, next(self.numbers), self.llm_s)

    def finished(self, tokens: list[str]) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM bench_tickets WHERE id = ANY(%s::uuid[]) AND status = 'done'",
            (tokens,),
        ).fetchone()
        return int(row[0]) if row else 0

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        rows = self._db.execute(
            f"SELECT {EPOCHS} FROM bench_tickets"
            " WHERE id = ANY(%s::uuid[]) AND finished_at IS NOT NULL",
            (tokens,),
        ).fetchall()
        return [(float(a), float(b)) for a, b in rows]

    def close(self) -> None:
        """Release this process's connections."""
        self._db.close()
        self._submit_db.close()


@dataclass
class Bare:
    """Three no-op tasks; the last one appends its times to a Redis list."""

    log_dir: Path
    name: str = "bare"
    worker: Service | None = None
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        self._redis = redis.Redis.from_url(redis_url())

    def start(self) -> None:
        env = {"BENCH_BROKER_URL": redis_url()}
        self.worker = start_service("worker-bare", _celery_argv("bare_chain"), env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        """No LLM here."""

    def submit(self) -> str:
        from bench.baselines import bare_chain

        token = str(next(self.numbers))
        bare_chain.submit(token)
        return token

    def finished(self, tokens: list[str]) -> int:
        from bench.baselines.bare_chain import DONE_KEY

        length: int = self._redis.llen(DONE_KEY)  # type: ignore[assignment]
        return length

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        from bench.baselines.bare_chain import DONE_KEY

        entries: list[bytes] = self._redis.lrange(DONE_KEY, 0, -1)  # type: ignore[assignment]
        pairs = [entry.split() for entry in entries]
        return [(float(sent), float(done)) for sent, done in pairs]

    def reset(self) -> None:
        """Forget the done markers of the previous phase."""
        from bench.baselines.bare_chain import DONE_KEY

        self._redis.delete(DONE_KEY)

    def close(self) -> None:
        """Release this process's connections."""
        self._redis.close()


def _celery_argv(module: str) -> list[str]:
    """A plain `celery worker` on a baseline app with our pool, concurrency and log level."""
    from bench.baselines import bare_chain, minimal_chain

    queue = {"bare_chain": bare_chain.QUEUE, "minimal_chain": minimal_chain.QUEUE}[module]
    return [
        PYTHON, "-m", "celery", "-A", f"bench.baselines.{module}:app", "worker",
        f"--pool={POOL}", f"--concurrency={CONCURRENCY}", f"--queues={queue}", "--loglevel=INFO",
        f"--hostname={module.split('_')[0]}@%h",  # not celery@host: that one is our worker's
    ]  # fmt: skip
