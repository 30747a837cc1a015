"""Shared fixtures: settings on SQLite and the in-memory transport, scripted adapters."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Classification, TicketText, Urgency
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.domain.operator import Role
from pipeline.domain.routing import load_routing
from pipeline.operations.api_keys import create_key
from pipeline.ports import TicketRepository
from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services, open_store
from tests.support.servers import postgres_database

# No dotenv file in tests, nor in the processes they start: a developer's .env (`make run`
# writes one in the checkout) must not change what a test sees. tests/triage_cli/test_run.py
# turns it back on for its own stack.
os.environ["TRIAGE_ENV_FILE"] = ""

TEST_PEPPER = "test-pepper-not-a-real-secret"
EXAMPLE_ROUTING = Path(__file__).parent.parent / "pipeline" / "data" / "routing.example.toml"


def decision(category: str = "billing", confidence: float = 0.9) -> Classification:
    """A classifier answer for tests."""
    return Classification(
        category=category,
        urgency=Urgency.normal,
        language="en",
        confidence=confidence,
        reason="test",
        classifier="scripted",
        model="scripted-1",
    )


def keyword_decision(ticket: TicketText) -> Classification:
    """A deterministic stand-in: the category named in the subject, else billing."""
    for category in ("refund", "shipping", "technical", "account", "security", "sales"):
        if category in ticket.subject.lower():
            return decision(category)
    return decision("billing")


def admin_key(store: TicketStore, name: str = "test-admin", source: str = "api") -> str:
    """Mint an admin key in the store for tests that call the API."""
    return create_key(store, TEST_PEPPER.encode(), name, Role.admin, source)


def submit(store: TicketRepository, **fields: object) -> str:
    """Store a ticket directly (no API) and return its id."""
    body = {"subject": "Invoice", "description": "I was charged twice", "customer_id": "c1"}
    body.update(fields)  # type: ignore[arg-type]
    submission = TicketSubmission.model_validate(body)
    return store.accept(
        submission, source="api", idempotency_key=None, payload_hash=payload_fingerprint(body)
    ).ticket.id


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the whole run (tables emptied between tests)."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own, for tests whose worker processes share no state."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults: SQLite file in a temp dir, in-memory broker, no Gemini."""
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'triage.db'}",
        broker_url="memory://",
        classifier=ClassifierChoice.local,
        routing_file=EXAMPLE_ROUTING,
        classify_max_retries=2,
        route_max_retries=2,
        retry_backoff_max_s=1,
        api_key_pepper=TEST_PEPPER,
    )


def _sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_store(Settings(database_url=url))
    yield store
    store.delete_everything_for_tests()
    store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TicketStore]:
    """The store on SQLite and on PostgreSQL: store behaviour must match on both."""
    yield from _sql_store(request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def every_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[TicketStore | InMemoryTicketRepository]:
    """Every ticket repository: in memory, on SQLite and on PostgreSQL, held to one behaviour."""
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    yield from _sql_store(request, tmp_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[TicketStore]:
    """The store on SQLite (a file, so several threads share it as in production)."""
    store = open_store(settings)
    yield store
    store.engine.dispose()


@pytest.fixture
def classifier() -> ScriptedClassifier:
    """A scripted classifier: the category named in the subject, confidence 0.9."""
    return ScriptedClassifier(default=keyword_decision)


@pytest.fixture
def departments() -> InMemoryDepartmentClient:
    """An in-memory department client answering 200 unless scripted otherwise."""
    return InMemoryDepartmentClient()


@pytest.fixture
def services(
    settings: Settings,
    store: TicketStore,
    classifier: ScriptedClassifier,
    departments: InMemoryDepartmentClient,
) -> Services:
    """Services wired to the in-memory adapters."""
    return Services(
        settings=settings,
        store=store,
        routing=load_routing(settings.routing_file),
        departments=departments,
        classifier=classifier,
    )
