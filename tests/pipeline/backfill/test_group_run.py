"""A backfill group through classify, route and audit in bulk: in memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.backfill.group_run import run_group
from pipeline.backfill.grouped_memory import PerTicketGroupedTransitions
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.changes import DeliveryStatus
from pipeline.domain.classification import GroupResult, TicketText
from pipeline.domain.lifecycle import Queue, TicketStatus
from pipeline.domain.routing import RoutingTable, load_routing
from pipeline.ports import GroupedTransitions
from pipeline.stages.classify_group import classify_group_of_tickets
from pipeline.store.grouped import SqlGroupedTransitions
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, keyword_decision, submit
from tests.support.tickets import AnyStore


class LeavesOneOut(ScriptedClassifier):
    """A grouped classifier that gives no answer for one ticket (it is asked alone later)."""

    left_out: str = ""

    def classify_group(
        self, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        decisions = {t.id: keyword_decision(t) for t in tickets if t.id != self.left_out}
        return GroupResult(decisions, size=len(tickets))


@pytest.fixture
def routing() -> RoutingTable:
    return load_routing(EXAMPLE_ROUTING)


def grouped_for(store: AnyStore) -> GroupedTransitions:
    if isinstance(store, TicketStore):
        return SqlGroupedTransitions(store)
    return PerTicketGroupedTransitions(store)


def history(store: AnyStore, n: int, *, deliver: bool = False, start: int = 0) -> list[str]:
    """Backfill tickets as `triage backfill` stores them (not to be delivered by default)."""
    ids = []
    for i in range(start, start + n):
        subject = ["Refund", "Shipping", "Billing"][i % 3]
        ticket_id = submit(store, subject=f"{subject} {i}", external_id=f"H-{i}")
        store.overwrite_for_tests(ticket_id, queue=Queue.backfill.value, deliver=deliver)
        ids.append(ticket_id)
    return ids


def run(
    store: AnyStore, classifier: ScriptedClassifier, routing: RoutingTable, ids: list[str]
) -> Any:
    return run_group(
        store,
        grouped_for(store),
        classifier,
        routing,
        ids,
        confidence_threshold=0.5,
        chunk_size=2,
    )


def events(store: AnyStore, ticket_id: str) -> list[str]:
    return [e.event for e in store.audit_trail(ticket_id)]


def test_a_group_ends_final_with_one_event_per_stage_and_nothing_sent(
    every_store: AnyStore, classifier: ScriptedClassifier, routing: RoutingTable
) -> None:
    ids = history(every_store, 5)

    outcome = run(every_store, classifier, routing, ids)

    assert (outcome.classified, outcome.routed, outcome.closed) == (5, 5, 5)
    assert outcome.classifier_calls == 3  # chunks of 2: one classifier call each
    for ticket_id in ids:
        ticket = every_store.get(ticket_id)
        assert ticket.status in (TicketStatus.done, TicketStatus.needs_review)
        assert ticket.department and ticket.finished_at is not None
        assert events(every_store, ticket_id) == [
            "received",
            "classified",
            "routing_recorded",
            "closed",
        ]
        closed = every_store.audit_trail(ticket_id)[-1].detail
        assert closed["status"] == ticket.status and "stage_ms" in closed
        [delivery] = every_store.deliveries(ticket_id)
        assert delivery.status == DeliveryStatus.recorded and delivery.attempts == 0
    assert every_store.get(ids[0]).category == "refund"


def test_a_group_run_again_changes_nothing(
    every_store: AnyStore, classifier: ScriptedClassifier, routing: RoutingTable
) -> None:
    ids = history(every_store, 4)
    run(every_store, classifier, routing, ids)
    trails = {i: events(every_store, i) for i in ids}
    calls = len(classifier.seen)

    again = run(every_store, classifier, routing, ids)

    assert (again.classified, again.routed, again.closed) == (0, 0, 0)
    assert {i: events(every_store, i) for i in ids} == trails
    assert len(classifier.seen) == calls  # nothing asked twice


def test_a_redelivered_group_resumes_where_it_stopped(
    every_store: AnyStore, classifier: ScriptedClassifier, routing: RoutingTable
) -> None:
    ids = history(every_store, 4)
    # The first run stopped after classifying (its worker died before routing).
    classify_group_of_tickets(every_store, classifier, ids, grouped=grouped_for(every_store))
    calls = len(classifier.seen)

    outcome = run(every_store, classifier, routing, ids)

    assert (outcome.classified, outcome.routed, outcome.closed) == (0, 4, 4)
    assert len(classifier.seen) == calls
    for ticket_id in ids:
        assert events(every_store, ticket_id).count("classified") == 1
        assert every_store.get(ticket_id).status in (TicketStatus.done, TicketStatus.needs_review)


def test_one_bad_ticket_fails_alone_replayable_and_the_others_end_final(
    every_store: AnyStore, classifier: ScriptedClassifier, routing: RoutingTable
) -> None:
    ids = history(every_store, 4)
    bad = ids[1]
    # Classified with no decision recorded: the route stage cannot decide (permanent error).
    every_store.overwrite_for_tests(bad, status=TicketStatus.classified.value, category=None)

    outcome = run(every_store, classifier, routing, ids)

    assert outcome.failed == [bad]
    failed = every_store.get(bad)
    assert failed.status == TicketStatus.failed and failed.failed_stage == "route"
    assert failed.last_error and events(every_store, bad)[-1] == "failed"
    for ticket_id in ids:
        if ticket_id != bad:
            assert every_store.get(ticket_id).status in (
                TicketStatus.done,
                TicketStatus.needs_review,
            )


def test_tickets_to_deliver_and_unanswered_ones_go_the_single_path(
    every_store: AnyStore, routing: RoutingTable
) -> None:
    ids = history(every_store, 3)
    to_deliver = history(every_store, 1, deliver=True, start=3)
    unanswered = ids[2]

    classifier = LeavesOneOut(default=keyword_decision)
    classifier.left_out = unanswered
    outcome = run(every_store, classifier, routing, ids + to_deliver)

    assert outcome.classify_alone == [unanswered]
    assert outcome.route_alone == to_deliver
    assert every_store.get(to_deliver[0]).status == TicketStatus.classified
    assert every_store.get(unanswered).status == TicketStatus.received
    assert outcome.closed == 2
