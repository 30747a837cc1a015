"""`triage retriage` on a SQLite store: the dry run changes nothing; a real run adds generations."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.local.classifier import load_local_classifier
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import TicketText
from pipeline.domain.routing import RoutingTable, choose_department, load_routing
from pipeline.settings import Settings
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import EXAMPLE_ROUTING, decision, submit
from triage_cli.retriage import retriage_command
from workers.celery_app import default_app

DIFF_LINE = re.compile(r"^feedback -> (\w+)\s+product -> (\w+)\s+(\d+)\s+(\S.*)$")
TEXTS = (
    ("Refund please", "I returned the headphones two weeks ago and still have no refund."),
    ("Parcel lost", "The tracking page says delivered but no parcel arrived at my door."),
    ("Cannot log in", "The app crashes with error 500 every time I open the settings page."),
    ("Invoice wrong", "My invoice shows a charge twice for the same monthly subscription."),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A store with finished tickets all filed (wrongly) under `feedback`."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rt.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_store(Settings(database_url=url))
    routing = load_routing(EXAMPLE_ROUTING)
    ids = []
    for subject, description in TEXTS:
        ticket_id = submit(store, subject=subject, description=description)
        classify_ticket(store, ScriptedClassifier(default=decision("feedback")), ticket_id)
        route_ticket(
            store, routing, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.55
        )
        close_ticket(store, ticket_id)
        ids.append(ticket_id)
    store.engine.dispose()
    yield url, ids
    if request.param == "postgresql":  # the session's database: empty it for the next test
        store = open_store(Settings(database_url=url))
        store.delete_everything_for_tests()
        store.engine.dispose()


def snapshot(url: str) -> tuple[list[tuple[object, ...]], ...]:
    """Every row of the tickets, audit events and deliveries (and a SQLite file's bytes)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        tables = tuple(
            [tuple(row) for row in connection.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
            for t in ("tickets", "audit_events", "deliveries")
        )
    engine.dispose()
    if not url.startswith("sqlite:///"):
        return tables
    data = Path(url.removeprefix("sqlite:///")).read_bytes()
    return (*tables, [(hashlib.sha256(data).hexdigest(),)])


def expected(routing: RoutingTable) -> dict[int, tuple[str, str]]:
    """What the local model (the current classifier) decides, computed here: index → (cat, dept)."""
    local = load_local_classifier(None)
    # The model's own review threshold (from training) counts where it is stricter.
    threshold = max(0.55, getattr(local, "review_threshold", None) or 0.0)
    out = {}
    for i, (subject, description) in enumerate(TEXTS):
        new = local.classify(TicketText(subject=subject, description=description))
        out[i] = (new.category, choose_department(new, routing, threshold).department)
    return out


def run(url: str, *args: str) -> Result:
    env = {
        "TRIAGE_DATABASE_URL": url,
        "TRIAGE_BROKER_URL": "memory://",
        "TRIAGE_CLASSIFIER": "local",
        "TRIAGE_ROUTING_FILE": str(EXAMPLE_ROUTING),
        "TRIAGE_CONFIDENCE_THRESHOLD": "0.55",
    }
    default_app.cache_clear()  # one app per process: this test's settings, not the last one's
    return CliRunner().invoke(retriage_command, list(args), env=env)


def test_dry_run_prints_the_diff_and_changes_nothing(database: tuple[str, list[str]]) -> None:
    url, ids = database
    new = expected(load_routing(EXAMPLE_ROUTING))
    before = snapshot(url)
    result = run(url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(url) == before  # rows, audit events, generations, the file itself
    changed = [i for i, (cat, dept) in new.items() if (cat, dept) != ("feedback", "product")]
    assert changed, "the local model should disagree with `feedback` on these texts"
    diff = {
        (m[1], m[2], int(m[3])): m[4].split(", ")
        for m in (DIFF_LINE.match(x) for x in result.stdout.splitlines())
        if m
    }
    wanted = Counter(new[i] for i in changed)
    assert {(c, d): n for c, d, n in diff} == dict(wanted), result.stdout
    for (cat, dept, _), samples in diff.items():
        assert set(samples) <= {ids[i] for i in changed if new[i] == (cat, dept)}
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(
        f"retriage (dry run, nothing written): {len(changed)} of {len(TEXTS)} would change;"
    ), summary


def test_apply_writes_generation_2_with_audit_events_and_sends_nothing(
    database: tuple[str, list[str]],
) -> None:
    url, ids = database
    new = expected(load_routing(EXAMPLE_ROUTING))
    result = run(url)
    assert result.exit_code == 0, result.output
    assert "not delivered (use --deliver)" in result.stdout
    store = TicketStore(open_store(Settings(database_url=url)).engine)
    for i, ticket_id in enumerate(ids):
        ticket = store.get(ticket_id)
        events = [e.event for e in store.audit_trail(ticket_id)]
        deliveries = store.deliveries(ticket_id)
        if new[i] == ("feedback", "product"):
            assert ticket.generation == 1 and "retriaged" not in events
            continue
        assert (ticket.category, ticket.department, ticket.generation) == (*new[i], 2), (
            result.output
        )
        assert ticket.status in {"done", "needs_review"}
        assert events.count("retriaged") == 1
        assert all(d.generation == 1 for d in deliveries)  # nothing sent for generation 2
    # A second run finds nothing left to change.
    again = run(url, "--dry-run")
    assert re.search(r": 0 of \d+ would change;", again.stdout), again.stdout
    store.engine.dispose()


def test_deliver_puts_changes_back_before_the_route_stage(database: tuple[str, list[str]]) -> None:
    url, ids = database
    result = run(url, "--deliver", "--limit", "2", "--category", "feedback")
    assert result.exit_code == 0, result.output
    found = re.search(
        r"retriage: (\d+) of 2 changed as new generations \((\d+) enqueued", result.stdout
    )
    assert found, result.stdout
    store = open_store(Settings(database_url=url))
    classified = [t for t in ids if store.get(t).status == "classified"]
    assert len(classified) == int(found[1]) == int(found[2])
    assert all(store.get(t).generation == 2 for t in classified)
    store.engine.dispose()


def test_deliver_and_dry_run_do_not_mix(database: tuple[str, list[str]]) -> None:
    url, _ = database
    result = run(url, "--dry-run", "--deliver")
    assert result.exit_code == 2 and "--deliver" in result.output
