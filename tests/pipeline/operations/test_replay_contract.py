"""Redelivery by replay: a final ticket goes back where it failed, with a new generation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.operations.replay import Reopened, TicketBusy, reopen_matching, reopen_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.schema import utcnow
from tests.conftest import decision, submit
from tests.support.tickets import force_status


def failed_at_route(store: InMemoryTicketRepository, **fields: object) -> str:
    ticket_id = submit(store, **fields)
    classify_ticket(store, ScriptedClassifier(default=decision("refund")), ticket_id)
    assert fail_ticket(store, ticket_id, Stage.route, DeliveryRejected("410"), attempt=1)
    return ticket_id


def test_a_failed_ticket_resumes_at_its_failed_stage_with_a_new_generation() -> None:
    store = InMemoryTicketRepository()
    ticket_id = failed_at_route(store)
    assert reopen_ticket(store, ticket_id, None, actor="ops@example") is Stage.route
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.generation, ticket.failed_stage, ticket.last_error) == (
        "classified",
        2,
        None,
        None,
    )
    event = store.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event) == ("route", "reopened")
    assert event.detail == {"from_status": "failed", "by": "ops@example", "generation": 2}


def test_a_ticket_with_no_failed_stage_reruns_from_classify() -> None:
    store = InMemoryTicketRepository()
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.done)
    assert reopen_ticket(store, ticket_id, None, actor="a") is Stage.classify
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.generation) == ("received", 2)


def test_an_asked_stage_wins_over_the_failed_one() -> None:
    store = InMemoryTicketRepository()
    ticket_id = failed_at_route(store)
    assert reopen_ticket(store, ticket_id, Stage.classify, actor="a") is Stage.classify
    assert store.get(ticket_id).status == "received"


@pytest.mark.parametrize(
    "status", [TicketStatus.received, TicketStatus.classified, TicketStatus.routed]
)
def test_a_ticket_in_flight_is_busy(status: TicketStatus) -> None:
    store = InMemoryTicketRepository()
    ticket_id = submit(store)
    force_status(store, ticket_id, status)
    with pytest.raises(TicketBusy, match=f"is {status.value}; wait until it is final"):
        reopen_ticket(store, ticket_id, None, actor="a")


def test_replaying_every_match_reopens_each_once_and_says_where() -> None:
    store = InMemoryTicketRepository()
    first = failed_at_route(store, external_id="one")
    second = failed_at_route(store, external_id="two")
    done = submit(store, external_id="three")
    force_status(store, done, TicketStatus.done)

    reopened = reopen_matching(store, status=TicketStatus.failed, actor="ops")
    assert sorted(reopened, key=lambda r: r.ticket_id) == sorted(
        [Reopened(first, Stage.route, Queue.live), Reopened(second, Stage.route, Queue.live)],
        key=lambda r: r.ticket_id,
    )
    assert store.get(done).status == "done"
    assert reopen_matching(store, status=TicketStatus.failed, actor="ops") == []


def test_replaying_matches_honours_the_filters() -> None:
    store = InMemoryTicketRepository()
    ticket_id = failed_at_route(store)
    later = utcnow() + timedelta(hours=1)
    assert reopen_matching(store, status=TicketStatus.failed, since=later, actor="a") == []
    assert reopen_matching(store, status=TicketStatus.failed, category="billing", actor="a") == []
    assert reopen_matching(store, status=TicketStatus.failed, limit=0, actor="a") == []
    [one] = reopen_matching(store, status=TicketStatus.failed, category="refund", actor="a")
    assert one.ticket_id == ticket_id


def test_a_ticket_that_moved_on_meanwhile_is_skipped_and_the_rest_replayed() -> None:
    store = InMemoryTicketRepository()
    first = failed_at_route(store, external_id="one")
    second = failed_at_route(store, external_id="two")
    listed = store.find_refs
    asked: list[dict[str, object]] = []

    def racing(**kwargs: object):  # type: ignore[no-untyped-def]
        asked.append(kwargs)
        refs = sorted(listed(**kwargs), key=lambda r: r.ticket_id != first)  # type: ignore[arg-type]
        reopen_ticket(store, first, None, actor="someone else")
        return refs

    store.find_refs = racing  # type: ignore[method-assign]
    [only] = reopen_matching(store, status=TicketStatus.failed, actor="ops")
    assert only == Reopened(second, Stage.route, Queue.live)
    assert store.audit_trail(second)[-1].detail["by"] == "ops"
    assert asked == [
        {"status": TicketStatus.failed, "since": None, "category": None, "limit": 100_000}
    ]


def test_a_ticket_that_moves_while_reopening_is_busy() -> None:
    store = InMemoryTicketRepository()
    ticket_id = failed_at_route(store)
    store.reopen = lambda reopening: False  # type: ignore[method-assign,assignment]
    with pytest.raises(TicketBusy) as busy:
        reopen_ticket(store, ticket_id, None, actor="a")
    assert str(busy.value) == f"ticket {ticket_id} changed while reopening; try again"
