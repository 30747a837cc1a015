"""The systems under test in the pipeline, memory and backfill benches, and the stubs they call.

- ours: `triage worker` with the Gemini classifier on the stub LLM and the stub departments;
  tickets stored with the product's own `TicketStore.accept` and published with
  `enqueue_after_commit`, as the API does;
- minimal and bare: the baseline chains of `bench.baselines.chains`, on plain `celery worker`.
Every worker runs with the same pool and concurrency.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.common import API_KEY_PEPPER, PYTHON, product_env, redis_url, sqlalchemy_url
from bench.processes import Service, start_service

POOL, CONCURRENCY = "threads", 8
FINAL = ("done", "needs_review", "failed")
EPOCHS = "extract(epoch FROM received_at)::float8, extract(epoch FROM finished_at)::float8"
SUBJECTS = [
    "Charged twice for my order",
    "Invoice shows the wrong VAT",
    "Payment failed but money was taken",
    "Need a receipt for my subscription",
]
BODIES = [
    "My card shows two identical charges for the same invoice this month.",
    "The invoice for March lists VAT at the wrong rate for my country.",
    "The checkout said the payment failed, yet my bank shows the amount as taken.",
    "Please send me a receipt for the annual plan I paid last week.",
]


class Stubs:
    """The stub LLM (answering after `latency_s`) and stub departments, served from this process."""

    def __init__(self, stack: ExitStack, directory: Path) -> None:
        from pipeline.testing.gemini_responses import (
            RecordedRequest,
            StubResponse,
            classification_json,
            text_response,
        )
        from pipeline.testing.gemini_stub import running_stub
        from triage_cli.demo import demo_routing_file
        from triage_cli.stub_departments import StubDepartments, serve_in_thread

        self.latency_s = 0.0  # changed between phases without restarting anything
        answer = text_response(classification_json())

        def respond(_request: RecordedRequest) -> StubResponse:
            # The held answer is how a slow model looks to the SDK: a request left waiting.
            return dataclasses.replace(answer, hold_s=self.latency_s)

        gemini = stack.enter_context(running_stub(respond))
        gemini.requests = _Discard()  # the stubs keep every request; the bench sends thousands
        self.gemini_url = gemini.url
        departments = StubDepartments()
        departments.received = _Discard()
        self.departments_url = stack.enter_context(serve_in_thread(departments))
        self.routing_file = demo_routing_file(directory, self.departments_url)


class _Discard(list):  # type: ignore[type-arg]
    """A list that drops what is appended: the stubs' records are not needed here."""

    def append(self, _item: object) -> None:
        return None


class System:
    """One pipeline under test: a worker process, a way to submit tickets and see them end."""

    name = "system"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.worker: Service | None = None
        self.llm_s = 0.0
        self.numbers = itertools.count()

    def start(self) -> None:
        """Start its worker process."""
        raise NotImplementedError

    def set_llm_latency(self, seconds: float) -> None:
        """What the LLM (stub or sleep) costs per ticket from now on."""
        self.llm_s = seconds

    def submit(self) -> str:
        """Store and publish one ticket; returns a token for `finished` and `timings`."""
        raise NotImplementedError

    def finished(self, tokens: list[str]) -> int:
        """How many of these tickets are final."""
        raise NotImplementedError

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        """(ingest, final) epoch seconds of each finished ticket."""
        raise NotImplementedError

    def reset(self) -> None:
        """Between phases: forget per-phase markers."""

    def close(self) -> None:
        """Release this process's connections."""


class InTable(System):
    """A system whose tickets are rows with a status and ingest/final times."""

    table, final, cast = "tickets", FINAL, ""

    def __init__(self, dsn: str, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.dsn = dsn
        self.db = psycopg.connect(dsn, autocommit=True)  # psycopg connections are thread-safe

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query on the run's database."""
        return self.db.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def finished(self, tokens: list[str]) -> int:
        sql = (
            f"SELECT count(*) FROM {self.table} WHERE id = ANY(%s{self.cast}) AND status = ANY(%s)"
        )
        return int(self.query(sql, (tokens, list(self.final)))[0][0])

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        sql = f"SELECT {EPOCHS} FROM {self.table} WHERE id = ANY(%s{self.cast})"
        rows = self.query(sql + " AND finished_at IS NOT NULL", (tokens,))
        return [(float(a), float(b)) for a, b in rows]

    def close(self) -> None:
        self.db.close()


class Ours(InTable):
    """`triage worker` with the Gemini classifier on the stub LLM and stub departments."""

    name = "ours"

    def __init__(self, dsn: str, stubs: Stubs, log_dir: Path) -> None:
        from pydantic import SecretStr

        from pipeline.settings import ClassifierChoice, Settings
        from pipeline.wiring import open_store
        from workers.celery_app import create_celery_app

        super().__init__(dsn, log_dir)
        self.stubs = stubs
        self.nonce = uuid.uuid4().hex[:8]  # text unique to this run: the decision cache misses
        settings = Settings(
            database_url=sqlalchemy_url(dsn),
            broker_url=redis_url(),
            api_key_pepper=SecretStr(API_KEY_PEPPER),
            routing_file=stubs.routing_file,
            classifier=ClassifierChoice.local,  # this process only stores and publishes
        )
        self.store = open_store(settings)  # migrates the empty database
        self.app = create_celery_app(settings)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        """Our settings for one worker process (its own Prometheus directory)."""
        metrics_dir = tempfile.mkdtemp(prefix=f"metrics-{name}-", dir=self.log_dir)
        routing = str(self.stubs.routing_file)
        return product_env(
            self.dsn, TRIAGE_ROUTING_FILE=routing, PROMETHEUS_MULTIPROC_DIR=metrics_dir, **extra
        )

    def start(self) -> None:
        env = self.env(
            "worker-ours",
            TRIAGE_CLASSIFIER="gemini",
            TRIAGE_GEMINI_BASE_URL=self.stubs.gemini_url,
            GEMINI_API_KEY="bench-not-a-key",
        )
        argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "live,backfill"]
        argv += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--metrics-port", "0"]
        self.worker = start_service("worker-ours", argv, env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        self.stubs.latency_s = seconds

    def submit(self) -> str:
        from pipeline.domain.models import TicketSubmission, payload_fingerprint
        from workers.chains import enqueue_after_commit

        index = next(self.numbers)
        body = {
            "external_id": f"{self.nonce}-{index}",
            "subject": SUBJECTS[index % len(SUBJECTS)],
            "description": f"Ticket {self.nonce}-{index}: {BODIES[index % len(BODIES)]}",
            "customer_id": f"cus_{index % 97}",
        }
        acceptance = self.store.accept(
            TicketSubmission.model_validate(body),
            source="bench",
            idempotency_key=body["external_id"],
            payload_hash=payload_fingerprint(body),
        )
        enqueue_after_commit(self.app, acceptance.ticket.id)
        return acceptance.ticket.id

    def statuses(self, tokens: list[str] | None = None) -> dict[str, int]:
        """Tickets by status (these, or all): every one should end `done`."""
        where = "WHERE id = ANY(%s)" if tokens is not None else ""
        rows = self.query(
            f"SELECT status, count(*) FROM tickets {where} GROUP BY status",
            (tokens,) if tokens is not None else (),
        )
        return {str(s): int(n) for s, n in rows}

    def close(self) -> None:
        super().close()
        self.store.engine.dispose()


def celery_argv(app: str, queue: str) -> list[str]:
    """A plain `celery worker` on a baseline app with our pool, concurrency and log level."""
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        f"bench.baselines.chains:{app}",
        "worker",
        f"--pool={POOL}",
        f"--concurrency={CONCURRENCY}",
        f"--queues={queue}",
        "--loglevel=INFO",
        f"--hostname={app}@%h",  # not celery@host: that one is our worker's
    ]


class Minimal(InTable):
    """The minimal chain: one UPDATE per stage, the same stub POST, the LLM latency slept."""

    name, table, final, cast = "minimal", "bench_tickets", ("done",), "::uuid[]"

    def __init__(self, dsn: str, department_url: str, log_dir: Path) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        from bench.baselines import DDL

        super().__init__(dsn, log_dir)
        self.db.execute(DDL)
        self.department_url = department_url
        self.submit_db = psycopg.connect(dsn)

    def start(self) -> None:
        from bench.baselines.chains import MINIMAL_QUEUE

        env = {"BENCH_DSN": self.dsn, "BENCH_BROKER_URL": redis_url()}
        env["BENCH_DEPARTMENT_URL"] = self.department_url
        argv = celery_argv("minimal", MINIMAL_QUEUE)
        self.worker = start_service("worker-minimal", argv, env, self.log_dir)

    def submit(self) -> str:
        from bench.baselines.chains import submit_minimal

        return submit_minimal(self.submit_db, next(self.numbers), self.llm_s)

    def close(self) -> None:
        super().close()
        self.submit_db.close()


class Bare(System):
    """Three no-op tasks; the last one appends its times to a Redis list."""

    name = "bare"

    def __init__(self, log_dir: Path) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        super().__init__(log_dir)
        self.redis = redis.Redis.from_url(redis_url())

    def start(self) -> None:
        from bench.baselines.chains import BARE_QUEUE

        env = {"BENCH_BROKER_URL": redis_url()}
        self.worker = start_service(
            "worker-bare", celery_argv("bare", BARE_QUEUE), env, self.log_dir
        )

    def submit(self) -> str:
        from bench.baselines.chains import submit_bare

        token = str(next(self.numbers))
        submit_bare(token)
        return token

    def finished(self, tokens: list[str]) -> int:
        from bench.baselines.chains import DONE_KEY

        return int(self.redis.llen(DONE_KEY))  # type: ignore[arg-type]

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        from bench.baselines.chains import DONE_KEY

        entries: list[bytes] = self.redis.lrange(DONE_KEY, 0, -1)  # type: ignore[assignment]
        return [(float(sent), float(done)) for sent, done in (e.split() for e in entries)]

    def reset(self) -> None:
        from bench.baselines.chains import DONE_KEY

        self.redis.delete(DONE_KEY)

    def close(self) -> None:
        self.redis.close()
