"""`triage ticket show|logs|correct|replay` on a SQLite store and the in-memory broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from unittest import mock

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient

from ingest_api.app import create_app
from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected
from pipeline.domain.lifecycle import Stage
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, admin_key, keyword_decision, submit
from tests.support.broker import drain_queue, purge_queues
from triage_cli.main import main
from workers.celery_app import create_celery_app, default_app


@pytest.fixture(autouse=True)
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads the same store, broker and routing file as the test's `store`."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRIAGE_BROKER_URL", "memory://")
    monkeypatch.setenv("TRIAGE_ROUTING_FILE", str(EXAMPLE_ROUTING))
    monkeypatch.setenv("TRIAGE_CLASSIFIER", "local")
    default_app.cache_clear()
    purge_queues(default_app(), "live", "backfill")
    yield
    purge_queues(default_app(), "live", "backfill")
    default_app.cache_clear()


def triage(*args: str) -> Result:
    result = CliRunner().invoke(main, ["ticket", *args])
    assert "Traceback" not in result.output
    return result


def finished(store: TicketStore, subject: str = "Invoice twice") -> str:
    """A ticket classified as billing (department finance), delivered and closed."""
    ticket_id = submit(store, subject=subject)
    classify_ticket(store, ScriptedClassifier(default=keyword_decision), ticket_id)
    routing = load_routing(EXAMPLE_ROUTING)
    route_ticket(store, routing, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.5)
    close_ticket(store, ticket_id)
    return ticket_id


def failed_at_route(store: TicketStore) -> str:
    ticket_id = submit(store, subject="Parcel")
    classify_ticket(store, ScriptedClassifier(default=keyword_decision), ticket_id)
    fail_ticket(store, ticket_id, Stage.route, DeliveryRejected("finance said 410"), attempt=3)
    return ticket_id


@pytest.fixture
def api_client(settings: Settings, store: TicketStore) -> FlaskClient:
    app = create_app(settings, store=store, celery_app=create_celery_app(settings))
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = admin_key(store)
    return client


def test_show_prints_the_ticket_readably(store: TicketStore) -> None:
    ticket_id = finished(store)

    result = triage("show", ticket_id)

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"id            {ticket_id}", "status        done"]
    assert "category      billing (confidence 0.90)" in lines
    assert "department    finance" in lines
    assert any(line.startswith("finished      20") and line.endswith("Z") for line in lines)
    assert lines[-2:] == ["description", "  I was charged twice"]


def test_show_json_is_what_the_api_answers(store: TicketStore, api_client: FlaskClient) -> None:
    ticket_id = failed_at_route(store)

    result = triage("show", ticket_id, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == api_client.get(f"/tickets/{ticket_id}").get_json()
    readable = triage("show", ticket_id).stdout.splitlines()
    assert "last error    DeliveryRejected: finance said 410" in readable
    assert "failed stage  route" in readable


def test_logs_one_line_per_event_oldest_first(store: TicketStore, api_client: FlaskClient) -> None:
    ticket_id = finished(store)
    trail = store.audit_trail(ticket_id)

    lines = triage("logs", ticket_id).stdout.splitlines()

    assert len(lines) == len(trail) >= 4
    assert [line.split()[1:3] for line in lines] == [[e.stage, e.event] for e in trail]
    assert "category=billing" in lines[1] and "attempt 1" in lines[1]
    as_json = json.loads(triage("logs", ticket_id, "--json").stdout)
    assert as_json == api_client.get(f"/tickets/{ticket_id}/logs").get_json()


UNKNOWN_ID = [["show", "nope"], ["show", "nope", "--json"], ["logs", "nope"], ["replay", "nope"]]


@pytest.mark.parametrize("args", [*UNKNOWN_ID, ["correct", "nope", "refund"]])
def test_an_unknown_id_is_one_line_and_exit_1(store: TicketStore, args: list[str]) -> None:
    result = triage(*args)

    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: no ticket nope in the store at sqlite:///")


def test_correct_to_another_department_reroutes_after_commit(store: TicketStore) -> None:
    ticket_id = finished(store)

    result = triage("correct", ticket_id, "shipping")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"ticket {ticket_id}: category billing -> shipping; department finance -> logistics; "
        "re-route enqueued\n"
    )
    ticket = store.get(ticket_id)
    # Back before the route stage, in a new generation; routing sets the new department.
    assert (ticket.status, ticket.category, ticket.known_category) == (
        "classified",
        "shipping",
        "shipping",
    )
    assert (ticket.generation, ticket.classifier, ticket.model) == (
        2,
        "person",
        "cli:ticket-correct",
    )
    [message] = drain_queue(default_app(), "live")
    assert (message.task, message.args) == ("triage.route", [ticket_id])
    assert [link["task"] for link in message.chain] == ["triage.audit"]


def test_correct_within_the_department_sends_nothing(store: TicketStore) -> None:
    ticket_id = finished(store)

    result = triage("correct", ticket_id, "refund")

    assert result.exit_code == 0
    assert result.stdout.endswith("department finance unchanged, nothing re-sent\n")
    assert store.get(ticket_id).known_category == "refund"
    assert drain_queue(default_app(), "live") == []


def test_correct_to_an_unknown_category_names_the_known_ones(store: TicketStore) -> None:
    ticket_id = finished(store)

    result = triage("correct", ticket_id, "biling")

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: unknown category 'biling'; the routing file has: account, ")
    assert store.get(ticket_id).category == "billing"


def test_replay_reopens_where_it_failed_and_enqueues(store: TicketStore) -> None:
    ticket_id = failed_at_route(store)

    result = triage("replay", ticket_id)

    assert result.exit_code == 0
    assert result.stdout == f"ticket {ticket_id}: reopened before route; enqueued\n"
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.failed_stage, ticket.last_error) == ("classified", None, None)
    assert ticket.generation == 2
    [message] = drain_queue(default_app(), "live")
    assert (message.task, message.args) == ("triage.route", [ticket_id])


def test_replay_with_the_broker_down_leaves_it_for_the_sweeper(store: TicketStore) -> None:
    ticket_id = failed_at_route(store)

    with mock.patch("workers.chains.enqueue_after_commit", return_value=False):
        result = triage("replay", ticket_id)

    assert result.exit_code == 0
    assert result.stdout.endswith("not enqueued (broker unreachable): the sweeper will send it\n")
    assert store.get(ticket_id).status == "classified"


@pytest.mark.parametrize("args", [["replay"], ["correct", "shipping"]])
def test_a_ticket_in_flight_is_one_line_saying_wait(store: TicketStore, args: list[str]) -> None:
    ticket_id = submit(store)
    command, *rest = args

    result = triage(command, ticket_id, *rest)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: ticket {ticket_id} is received; ")
    assert "once it is final" in line or "wait until it is final" in line
    assert store.get(ticket_id).status == "received"
    assert drain_queue(default_app(), "live") == []
