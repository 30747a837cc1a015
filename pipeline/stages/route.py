"""The route stage: choose the department, deliver the ticket once per generation, record it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.domain.changes import DeliveryAttempt, DeliveryRecord, DeliveryStatus, RoutedTicket
from pipeline.domain.errors import (
    ConfigurationError,
    DeliveryRejected,
    DepartmentUnavailable,
    describe_error,
)
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.routing import RoutingDecision, RoutingTable, route_classified
from pipeline.domain.writeback import HelpdeskRejected, HelpdeskUnavailable, plan_writeback
from pipeline.ports import (
    CircuitBreaker,
    DeliveryReceipt,
    DepartmentClient,
    HelpdeskWriter,
    TicketRepository,
)
from pipeline.stages.outcome import StageOutcome, skipped


def delivery_idempotency_key(ticket: TicketRecord) -> str:
    """The key a department uses to drop redeliveries: `<ticket id>:<generation>`."""
    return f"{ticket.id}:{ticket.generation}"


def delivery_body(ticket: TicketRecord, decision: RoutingDecision) -> bytes:
    """The JSON a department receives: the ticket, its classification and why it came."""
    classification = ticket.classification()
    payload: dict[str, Any] = {
        "id": ticket.id,
        "generation": ticket.generation,
        "source": ticket.source,
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "description": ticket.description,
        "customer_id": ticket.customer_id,
        "priority": ticket.priority,
        "created_at": ticket.created_at.isoformat() if ticket.created_at else None,
        "received_at": ticket.received_at.isoformat(),
        "metadata": ticket.extra,
        "classification": classification.model_dump(mode="json") if classification else None,
        "department": decision.department,
        "needs_review": decision.needs_review,
        "routing_reason": decision.reason,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def route_ticket(
    store: TicketRepository,
    routing: RoutingTable,
    departments: DepartmentClient,
    ticket_id: str,
    *,
    confidence_threshold: float,
    sign: Callable[[str, bytes], dict[str, str]] | None = None,
    breaker: CircuitBreaker | None = None,
    attempt: int = 1,
    writers: Mapping[str, HelpdeskWriter] | None = None,
) -> StageOutcome:
    """Route a `classified` ticket: deliver it (unless already delivered) and record the outcome.

    Each target is a delivery of its own: the department's endpoint ("http") and, for a ticket
    from a helpdesk the department names a target for, the write-back (`writers[helpdesk]`).
    `sign(msg_id, body) -> headers` adds outbound signature headers when configured.
    Raises DepartmentUnavailable (retry later) or DeliveryRejected (fail the ticket).
    """
    # The ticket and its earlier deliveries in one query, outside the write transaction: the
    # department's POST must not hold a database lock.
    ticket, deliveries = store.get_with_deliveries(ticket_id)
    if ticket.status != TicketStatus.classified:
        return skipped(ticket_id, Stage.route, ticket.status)
    decision = route_classified(ticket, routing, confidence_threshold)
    earlier = deliveries.get((decision.department, "http"))
    written: tuple[str, ...] = ()
    if ticket.deliver:
        written = _write_back(store, routing, writers or {}, ticket, decision, deliveries, breaker)
    if decision.endpoint is None or not ticket.deliver:
        # No endpoint, or a historical ticket not to be delivered: record the decision only.
        return _finish_routing(
            store, ticket, decision, None, DeliveryStatus.recorded, attempt, written
        )
    if earlier is not None and earlier.status == DeliveryStatus.delivered:
        # A redelivered task after a recorded 2xx: never POST the same generation twice.
        receipt = DeliveryReceipt(earlier.response_status or 200, 0.0)
        return _finish_routing(
            store, ticket, decision, receipt, DeliveryStatus.delivered, attempt, written
        )

    body = delivery_body(ticket, decision)
    key = delivery_idempotency_key(ticket)
    headers = {"Idempotency-Key": key}
    if sign is not None:
        headers.update(sign(key, body))
    if breaker is not None:
        breaker.check(decision.department)  # raises CircuitOpen: wait, do not send
    try:
        receipt = departments.deliver(decision.endpoint, body, headers)
    except (DepartmentUnavailable, DeliveryRejected) as error:
        rejected = isinstance(error, DeliveryRejected)
        if breaker is not None and not rejected:
            breaker.record_failure(decision.department)
        store.record_delivery_attempt(
            DeliveryAttempt(
                ticket_id,
                decision.department,
                ticket.generation,
                decision.endpoint,
                DeliveryStatus.rejected if rejected else DeliveryStatus.pending,
                error=describe_error(error),
            )
        )
        raise
    if breaker is not None:
        breaker.record_success(decision.department)
    return _finish_routing(
        store, ticket, decision, receipt, DeliveryStatus.delivered, attempt, written
    )


def _write_back(
    store: TicketRepository,
    routing: RoutingTable,
    writers: Mapping[str, HelpdeskWriter],
    ticket: TicketRecord,
    decision: RoutingDecision,
    deliveries: Mapping[tuple[str, str], DeliveryRecord],
    breaker: CircuitBreaker | None,
) -> tuple[str, ...]:
    """Write the decision back to the helpdesk the ticket came from, once per generation."""
    helpdesk = ticket.connector
    target = routing.departments[decision.department].helpdesk_target(helpdesk)
    review = getattr(routing.writeback, helpdesk, None) if helpdesk else None
    if target is None and decision.needs_review and review is not None:
        target = review.review  # the review target stands in for the department's
    classification = ticket.classification()
    if helpdesk is None or target is None or classification is None:
        return ()
    request = plan_writeback(
        helpdesk,
        target,
        routing.writeback,
        ticket,
        classification,
        needs_review=decision.needs_review,
    )
    if request is None or not (
        request.group_id or request.tags or request.assignees or request.priority or request.fields
    ):
        return ()  # no helpdesk id to write to, or nothing to write
    earlier = deliveries.get((decision.department, helpdesk))
    if earlier is not None and earlier.status == DeliveryStatus.delivered:
        return (helpdesk,)  # written in an earlier run of this generation
    writer = writers.get(helpdesk)
    if writer is None:
        raise ConfigurationError(f"no {helpdesk} writer: set TRIAGE_{helpdesk.upper()}_*")
    circuit = f"helpdesk:{helpdesk}"
    if breaker is not None:
        breaker.check(circuit)  # raises CircuitOpen: wait, do not send
    endpoint = writer.endpoint(request)
    try:
        receipt = writer.write_back(request)
    except (HelpdeskUnavailable, HelpdeskRejected) as error:
        rejected = isinstance(error, HelpdeskRejected)
        if breaker is not None and not rejected:
            breaker.record_failure(circuit)
        store.record_delivery_attempt(
            DeliveryAttempt(
                ticket.id,
                decision.department,
                ticket.generation,
                endpoint,
                DeliveryStatus.rejected if rejected else DeliveryStatus.pending,
                response_status=error.status,
                error=describe_error(error),
                target=helpdesk,
                response_body=error.body,
            )
        )
        raise
    if breaker is not None:
        breaker.record_success(circuit)
    store.record_delivery_attempt(
        DeliveryAttempt(
            ticket.id,
            decision.department,
            ticket.generation,
            endpoint,
            DeliveryStatus.delivered,
            response_status=receipt.status_code,
            target=helpdesk,
            response_body=receipt.body,
        )
    )
    return (helpdesk,)


def _finish_routing(
    store: TicketRepository,
    ticket: TicketRecord,
    decision: RoutingDecision,
    receipt: DeliveryReceipt | None,
    status: DeliveryStatus,
    attempt: int,
    written_back: tuple[str, ...] = (),
) -> StageOutcome:
    routed = RoutedTicket(
        ticket.id,
        ticket.generation,
        decision.department,
        decision.endpoint,
        decision.needs_review,
        decision.reason,
        status,
        response_status=receipt.status_code if receipt else None,
        latency_ms=receipt.latency_ms if receipt else None,
        written_back=written_back,
    )
    if not store.mark_routed(routed, attempt=attempt):
        return skipped(ticket.id, Stage.route, "already routed")
    return StageOutcome(ticket.id, Stage.route, f"routed to {decision.department}")
