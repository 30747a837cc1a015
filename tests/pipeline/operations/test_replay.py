"""Bulk replay reopens each failed ticket where it failed."""

from __future__ import annotations

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected, LLMRejected
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.operations.replay import reopen_matching
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from tests.conftest import decision, submit
from tests.support.tickets import AnyStore


def test_reopens_failed_tickets_at_their_failed_stage(every_store: AnyStore) -> None:
    at_classify = submit(every_store, subject="a")
    at_route = submit(every_store, subject="b")
    untouched = submit(every_store, subject="c")
    fail_ticket(every_store, at_classify, Stage.classify, LLMRejected("400"), attempt=1)
    classify_ticket(every_store, ScriptedClassifier(default=decision("sales")), at_route)
    fail_ticket(every_store, at_route, Stage.route, DeliveryRejected("410"), attempt=1)

    reopened = reopen_matching(every_store, status=TicketStatus.failed, actor="test")

    assert {(r.ticket_id, r.stage) for r in reopened} == {
        (at_classify, Stage.classify),
        (at_route, Stage.route),
    }
    assert every_store.get(at_classify).status == "received"
    assert (every_store.get(at_route).status, every_store.get(at_route).generation) == (
        "classified",
        2,
    )
    assert every_store.get(untouched).status == "received"
    assert every_store.get(at_route).last_error is None
    assert reopen_matching(every_store, status=TicketStatus.failed, actor="test") == []


def test_filters_by_category(every_store: AnyStore) -> None:
    sales = submit(every_store, subject="a")
    other = submit(every_store, subject="b")
    for ticket_id, category in ((sales, "sales"), (other, "billing")):
        classify_ticket(every_store, ScriptedClassifier(default=decision(category)), ticket_id)
        fail_ticket(every_store, ticket_id, Stage.route, DeliveryRejected("410"), attempt=1)
    reopened = reopen_matching(every_store, status=TicketStatus.failed, category="sales", actor="t")
    assert [r.ticket_id for r in reopened] == [sales]
