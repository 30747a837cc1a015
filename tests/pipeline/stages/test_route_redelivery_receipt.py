"""What the route stage records when it does not POST again, and what its outcome names.

A task that runs again after the department's 2xx was recorded sends nothing, and the trail
keeps the department's earlier answer (200 when none was kept) with no latency of its own,
and the helpdesks already written back. A first run counts as attempt 1, and a skipped ticket's
outcome names the ticket (it shows in Flower and the logs).
"""

from __future__ import annotations

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.domain.changes import DeliveryAttempt, DeliveryStatus
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.ports import TicketRepository
from pipeline.stages.route import route_ticket
from tests.pipeline.stages.test_route_review_and_writeback import (
    FINANCE,
    RecordingWriter,
    classified_from,
    route,
    routed_detail,
    routing,
)
from tests.support.tickets import force_status


def test_a_skipped_ticket_is_named_in_the_outcome(store: TicketRepository) -> None:
    ticket_id = classified_from(store, None, None)
    force_status(store, ticket_id, TicketStatus.received)
    outcome = route(store, routing(), ticket_id)
    assert (outcome.ticket_id, outcome.stage, outcome.did_work) == (ticket_id, Stage.route, False)
    assert outcome.summary() == f"route {ticket_id}: skipped (ticket is received)"


def test_a_first_run_is_recorded_as_attempt_1(store: TicketRepository) -> None:
    ticket_id = classified_from(store, None, None)
    route_ticket(store, routing(), InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.55)
    event = store.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("route", "delivered", 1)


def test_a_rerun_keeps_the_departments_earlier_answer(store: TicketRepository) -> None:
    ticket_id = classified_from(store, None, None)
    departments = InMemoryDepartmentClient(responses=[202])
    route(store, routing(), ticket_id, departments=departments)
    force_status(store, ticket_id, TicketStatus.classified)  # the task runs again
    outcome = route(store, routing(), ticket_id, departments=departments)

    assert outcome.result == "routed to finance"
    assert len(departments.received) == 1  # never the same generation twice
    detail = routed_detail(store, ticket_id)
    assert (detail["response_status"], detail["latency_ms"]) == (202, 0.0)
    [delivery] = store.deliveries(ticket_id)
    assert (delivery.status, delivery.response_status) == ("delivered", 202)


def test_an_earlier_delivery_that_kept_no_status_counts_as_200(store: TicketRepository) -> None:
    ticket_id = classified_from(store, None, None)
    store.record_delivery_attempt(
        DeliveryAttempt(ticket_id, "finance", 1, FINANCE, DeliveryStatus.delivered)
    )
    departments = InMemoryDepartmentClient()
    route(store, routing(), ticket_id, departments=departments)

    assert departments.received == []
    event = store.audit_trail(ticket_id)[-1]
    assert event.event == "delivered"
    assert (event.detail["response_status"], event.detail["latency_ms"]) == (200, 0.0)


def test_a_rerun_still_reports_the_earlier_write_back(store: TicketRepository) -> None:
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436")
    departments = InMemoryDepartmentClient()
    route(store, table, ticket_id, {"zendesk": zendesk}, departments)
    force_status(store, ticket_id, TicketStatus.classified)  # the task runs again
    route(store, table, ticket_id, {"zendesk": zendesk}, departments)

    assert (len(zendesk.writes), len(departments.received)) == (1, 1)
    detail = routed_detail(store, ticket_id)
    assert (detail["response_status"], detail["written_back"]) == (200, ["zendesk"])
