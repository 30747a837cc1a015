"""Retriage: the plan compares stored decisions with new ones; applying writes new generations."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Classification
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.routing import RoutingTable, load_routing
from pipeline.operations.corrections import correct_category
from pipeline.operations.retriage import RetriagePlan, apply_change, needs_classifier, plan_batch
from pipeline.ports import RetriageFilter
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.retriage import retriage_store
from tests.conftest import EXAMPLE_ROUTING, decision, submit
from tests.support.tickets import AnyStore

THRESHOLD = 0.55


@pytest.fixture
def routing() -> RoutingTable:
    return load_routing(EXAMPLE_ROUTING)


def finished(store: AnyStore, routing: RoutingTable, category: str, confidence: float = 0.9) -> str:
    """A ticket through classify, route and audit, as the pipeline leaves it."""
    ticket_id = submit(store, subject=f"about {category}")
    classify_ticket(store, ScriptedClassifier(default=decision(category, confidence)), ticket_id)
    route_ticket(
        store, routing, InMemoryDepartmentClient(), ticket_id, confidence_threshold=THRESHOLD
    )
    close_ticket(store, ticket_id)
    return ticket_id


def plan_for(
    store: AnyStore, routing: RoutingTable, answers: Mapping[str, Classification | None]
) -> RetriagePlan:
    """Plan with scripted new decisions per ticket id (None: no answer)."""
    ops = retriage_store(store)
    tickets = ops.retriage_candidates(RetriageFilter(), limit=100)
    asked = [t for t in tickets if needs_classifier(t)]
    plan = RetriagePlan()
    plan_batch(plan, tickets, [answers[t.id] for t in asked], routing, THRESHOLD)
    return plan


def test_plan_diff_counts_and_what_it_leaves(every_store: AnyStore, routing: RoutingTable) -> None:
    moved = finished(every_store, routing, "sales")
    same = finished(every_store, routing, "billing")
    unsure = finished(every_store, routing, "shipping")
    person = finished(every_store, routing, "technical")
    correct_category(every_store, routing, person, "account", actor="test")
    route_ticket(
        every_store, routing, InMemoryDepartmentClient(), person, confidence_threshold=THRESHOLD
    )
    close_ticket(every_store, person)
    silent = finished(every_store, routing, "refund")
    answers = {
        moved: decision("shipping"),
        same: decision("billing"),
        unsure: decision("shipping", confidence=0.3),  # now below the threshold: to review
        silent: None,
    }
    plan = plan_for(every_store, routing, answers)
    assert (plan.checked, plan.unchanged, plan.corrected, plan.unanswered) == (5, 1, 1, 1)
    assert {(k, n) for k, n, _ in plan.diff()} == {
        (("sales", "shipping", "sales", "logistics"), 1),
        (("shipping", "shipping", "logistics", "review"), 1),
    }
    assert dict((k, ids) for k, _, ids in plan.diff())[
        ("sales", "shipping", "sales", "logistics")
    ] == [moved]
    assert (plan.to_review, plan.from_review) == (1, 0)
    assert every_store.get(moved).generation == 1  # planning writes nothing


def test_apply_records_a_new_generation_and_its_audit_event(
    every_store: AnyStore, routing: RoutingTable
) -> None:
    moved = finished(every_store, routing, "sales")
    unsure = finished(every_store, routing, "shipping")
    plan = plan_for(
        every_store, routing, {moved: decision("shipping"), unsure: decision("refund", 0.3)}
    )
    ops = retriage_store(every_store)
    for proposal in plan.changes:
        assert apply_change(ops, proposal, actor="test:retriage", deliver=False)

    ticket = every_store.get(moved)
    assert (ticket.status, ticket.category, ticket.department, ticket.generation) == (
        "done",
        "shipping",
        "logistics",
        2,
    )
    review = every_store.get(unsure)
    assert (review.status, review.department, review.generation) == ("needs_review", "review", 2)
    assert review.review_reason and "below threshold" in review.review_reason
    events = [e for e in every_store.audit_trail(moved) if e.event == "retriaged"]
    assert len(events) == 1
    assert events[0].detail["from"]["category"] == "sales"
    assert events[0].detail["to"]["department"] == "logistics"
    assert events[0].detail["generation"] == 2 and events[0].detail["delivered"] is False
    assert len(every_store.deliveries(moved)) == 1  # only generation 1's: nothing sent
    # Applying the same plan again: the generation read is gone, nothing is written twice.
    assert not apply_change(ops, plan.changes[0], actor="test:retriage", deliver=False)
    assert len([e for e in every_store.audit_trail(moved) if e.event == "retriaged"]) == 1


def test_deliver_hands_the_ticket_to_the_route_stage_for_the_new_generation(
    every_store: AnyStore, routing: RoutingTable
) -> None:
    moved = finished(every_store, routing, "sales")
    unsure = finished(every_store, routing, "billing")
    answers = {moved: decision("shipping"), unsure: decision("refund", confidence=0.3)}
    plan = plan_for(every_store, routing, answers)
    ops = retriage_store(every_store)
    for proposal in plan.changes:
        assert apply_change(ops, proposal, actor="t", deliver=True)
    ticket = every_store.get(moved)
    assert (ticket.status, ticket.category, ticket.generation) == ("classified", "shipping", 2)
    departments = InMemoryDepartmentClient()
    for ticket_id in (moved, unsure):
        route_ticket(every_store, routing, departments, ticket_id, confidence_threshold=THRESHOLD)
        close_ticket(every_store, ticket_id)
    final = every_store.get(moved)
    assert (final.status, final.department) == (TicketStatus.done.value, "logistics")
    assert [d.generation for d in every_store.deliveries(moved)] == [1, 2]
    # What the plan sent to review, the route stage sends to review too.
    review = every_store.get(unsure)
    assert (review.status, review.department) == (TicketStatus.needs_review.value, "review")


def test_a_correction_after_the_plan_wins(every_store: AnyStore, routing: RoutingTable) -> None:
    moved = finished(every_store, routing, "sales")
    plan = plan_for(every_store, routing, {moved: decision("shipping")})
    correct_category(every_store, routing, moved, "technical", actor="person")
    assert not apply_change(retriage_store(every_store), plan.changes[0], actor="t", deliver=False)
    assert every_store.get(moved).category == "technical"


def test_filters(every_store: AnyStore, routing: RoutingTable) -> None:
    sales = finished(every_store, routing, "sales")
    finished(every_store, routing, "billing")
    review = finished(every_store, routing, "shipping", confidence=0.2)
    ops = retriage_store(every_store)
    assert ops.retriage_count(RetriageFilter()) == 3
    only_sales = ops.retriage_candidates(RetriageFilter(category="sales"), limit=10)
    assert [t.id for t in only_sales] == [sales]
    in_review = RetriageFilter(statuses=(TicketStatus.needs_review,))
    assert [t.id for t in ops.retriage_candidates(in_review, limit=10)] == [review]
    first, second = (
        ops.retriage_candidates(RetriageFilter(), limit=2, after_id=a)
        for a in (None, sorted([sales, review])[0])
    )
    assert len(first) == 2 and first[0].id < first[1].id
    assert all(t.id > sorted([sales, review])[0] for t in second)
