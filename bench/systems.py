"""The systems under test in the pipeline and backfill benches: ours (`triage worker` on the
stub LLM and stub departments, tickets stored and published as the API does) and the stubs.
The baseline chains are in `bench.baselines.systems`; the phases that drive them all are in
`bench.phases`.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg

from bench.common import (
    API_KEY_PEPPER,
    PYTHON,
    product_env,
    redis_url,
    sqlalchemy_url,
)
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


class System(Protocol):
    """One pipeline under test."""

    name: str
    worker: Service | None

    def start(self) -> None:
        """Start its worker process."""
        ...

    def set_llm_latency(self, seconds: float) -> None:
        """What the LLM (stub or sleep) costs per ticket from now on."""
        ...

    def submit(self) -> str:
        """Store and publish one ticket (numbered by the system); returns a token for `timings`."""
        ...

    def finished(self, tokens: list[str]) -> int:
        """How many of these tickets are final."""
        ...

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        """(ingest, final) epoch seconds of each finished ticket."""
        ...


def ticket_body(index: int, nonce: str) -> dict[str, Any]:
    """A valid ticket with text unique to this run (the LLM decision cache must miss)."""
    return {
        "external_id": f"{nonce}-{index}",
        "subject": SUBJECTS[index % len(SUBJECTS)],
        "description": f"Ticket {nonce}-{index}: {BODIES[index % len(BODIES)]}",
        "customer_id": f"cus_{index % 97}",
    }


@dataclass
class StubLatency:
    """The stub LLM's answer time, changed between phases without restarting anything."""

    seconds: float = 0.0


@dataclass
class Ours:
    """`triage worker` with the Gemini classifier on the stub LLM and stub departments."""

    dsn: str
    routing_file: Path
    gemini_url: str
    latency: StubLatency
    log_dir: Path
    name: str = "ours"
    worker: Service | None = None
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        from pydantic import SecretStr

        from pipeline.settings import ClassifierChoice, Settings
        from pipeline.wiring import open_store
        from workers.celery_app import create_celery_app

        settings = Settings(
            database_url=sqlalchemy_url(self.dsn),
            broker_url=redis_url(),
            api_key_pepper=SecretStr(API_KEY_PEPPER),
            routing_file=self.routing_file,
            classifier=ClassifierChoice.local,  # this process only stores and publishes
        )
        self.store = open_store(settings)  # migrates the empty database
        self.app = create_celery_app(settings)
        self._db = psycopg.connect(self.dsn, autocommit=True)

    def start(self) -> None:
        metrics_dir = tempfile.mkdtemp(prefix="metrics-", dir=self.log_dir)
        env = product_env(
            self.dsn,
            TRIAGE_CLASSIFIER="gemini",
            TRIAGE_GEMINI_BASE_URL=self.gemini_url,
            GEMINI_API_KEY="bench-not-a-key",
            TRIAGE_ROUTING_FILE=str(self.routing_file),
            PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        )
        argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "live,backfill"]
        argv += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--metrics-port", "0"]
        self.worker = start_service("worker-ours", argv, env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        self.latency.seconds = seconds

    def submit(self) -> str:
        from pipeline.domain.models import TicketSubmission, payload_fingerprint
        from workers.chains import enqueue_after_commit

        body = ticket_body(next(self.numbers), self.nonce)
        acceptance = self.store.accept(
            TicketSubmission.model_validate(body),
            source="bench",
            idempotency_key=body["external_id"],
            payload_hash=payload_fingerprint(body),
        )
        enqueue_after_commit(self.app, acceptance.ticket.id)
        return acceptance.ticket.id

    def finished(self, tokens: list[str]) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM tickets WHERE id = ANY(%s) AND status = ANY(%s)",
            (tokens, list(FINAL)),
        ).fetchone()
        return int(row[0]) if row else 0

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        rows = self._db.execute(
            f"SELECT {EPOCHS} FROM tickets WHERE id = ANY(%s) AND finished_at IS NOT NULL",
            (tokens,),
        ).fetchall()
        return [(float(a), float(b)) for a, b in rows]

    def statuses(self, tokens: list[str]) -> dict[str, int]:
        """Tickets by status: every one should end `done`."""
        rows = self._db.execute(
            "SELECT status, count(*) FROM tickets WHERE id = ANY(%s) GROUP BY status", (tokens,)
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of one query on the run's database (psycopg connections are thread-safe)."""
        return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Release this process's connections."""
        self._db.close()
        self.store.engine.dispose()


class Stubs:
    """The stub LLM and stub departments, served from this process."""

    def __init__(self, stack: ExitStack, directory: Path) -> None:
        from tests.support.gemini_stub import (
            RecordedRequest,
            StubResponse,
            classification_json,
            running_stub,
            text_response,
        )
        from triage_cli.demo import demo_routing_file
        from triage_cli.stub_departments import StubDepartments, serve_in_thread

        self.latency = StubLatency()
        answer = text_response(classification_json())

        def respond(_request: RecordedRequest) -> StubResponse:
            # The held answer is how a slow model looks to the SDK: a request left waiting.
            return dataclasses.replace(answer, hold_s=self.latency.seconds)

        gemini = stack.enter_context(running_stub(respond))
        # The stub keeps every request; the bench sends thousands, so keep none.
        gemini.requests = _Discard()
        self.gemini_url = gemini.url
        self.departments = StubDepartments()
        self.departments.received = _Discard()
        self.departments_url = stack.enter_context(serve_in_thread(self.departments))
        self.routing_file = demo_routing_file(directory, self.departments_url)


class _Discard(list):
    """A list that drops what is appended: the stubs' records are not needed here."""

    def append(self, _item: object) -> None:
        return None
