"""Bulk replay reopens each failed ticket where it failed."""

from __future__ import annotations

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected, LLMRejected
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.operations.replay import reopen_matching
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from pipeline.store.tickets import TicketStore
from tests.conftest import decision, submit


def test_reopens_failed_tickets_at_their_failed_stage(any_store: TicketStore) -> None:
    at_classify = submit(any_store, subject="a")
    at_route = submit(any_store, subject="b")
    untouched = submit(any_store, subject="c")
    fail_ticket(any_store, at_classify, Stage.classify, LLMRejected("400"), attempt=1)
    classify_ticket(any_store, ScriptedClassifier(default=decision("sales")), at_route)
    fail_ticket(any_store, at_route, Stage.route, DeliveryRejected("410"), attempt=1)

    reopened = reopen_matching(any_store, status=TicketStatus.failed, actor="test")

    assert {(r.ticket_id, r.stage) for r in reopened} == {
        (at_classify, Stage.classify),
        (at_route, Stage.route),
    }
    assert any_store.get(at_classify).status == "received"
    assert (any_store.get(at_route).status, any_store.get(at_route).generation) == ("classified", 2)
    assert any_store.get(untouched).status == "received"
    assert any_store.get(at_route).last_error is None
    assert reopen_matching(any_store, status=TicketStatus.failed, actor="test") == []


def test_filters_by_category(any_store: TicketStore) -> None:
    sales = submit(any_store, subject="a")
    other = submit(any_store, subject="b")
    for ticket_id, category in ((sales, "sales"), (other, "billing")):
        classify_ticket(any_store, ScriptedClassifier(default=decision(category)), ticket_id)
        fail_ticket(any_store, ticket_id, Stage.route, DeliveryRejected("410"), attempt=1)
    reopened = reopen_matching(any_store, status=TicketStatus.failed, category="sales", actor="t")
    assert [r.ticket_id for r in reopened] == [sales]
