"""What stages and operations ask the ticket store to record, and what it answers: typed values.

Each change names its audit event and builds its detail here, so every store implementation
writes the same trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.domain.classification import Classification
from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.domain.models import TicketRecord


@dataclass(frozen=True)
class Acceptance:
    """The outcome of accepting a ticket: the stored ticket, and whether it is new."""

    ticket: TicketRecord
    created: bool


class IdempotencyConflict(TriageError):
    """The idempotency key was used before with a different body."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"idempotency key already used for ticket {ticket_id} with another body")
        self.ticket_id = ticket_id


@dataclass(frozen=True)
class TicketRef:
    """A ticket's id and queue: enough to enqueue it."""

    ticket_id: str
    queue: Queue


@dataclass(frozen=True)
class ClassifiedTicket:
    """A classifier's decision for one ticket, with what its audit event keeps."""

    ticket_id: str
    decision: Classification
    detail: Mapping[str, Any]
    review_reason: str | None = None  # a fallback decision: the ticket goes to review


@dataclass(frozen=True)
class FailedAttempt:
    """A transient failure of a stage: kept in the trail, the stage is tried again."""

    stage: Stage
    error: str
    retry_in_s: float
    attempt: int
    counts_as_attempt: bool = True  # False for waits of our own making (budget, open circuit)
    defer: bool = False  # the wait is a `next_attempt_at` the sweeper honours

    @property
    def event(self) -> str:
        """`attempt_failed`, or `waiting` when no retry was used up."""
        return "attempt_failed" if self.counts_as_attempt else "waiting"

    def detail(self) -> dict[str, Any]:
        """The audit detail."""
        retry_in_s = round(self.retry_in_s, 1)
        return {"error": self.error, "retry_in_s": retry_in_s, "deferred": self.defer}


class DeliveryStatus(StrEnum):
    """Where one delivery stands."""

    pending = "pending"  # attempted, not yet acknowledged
    delivered = "delivered"  # the department answered 2xx
    recorded = "recorded"  # the department has no endpoint: the routing is only recorded
    rejected = "rejected"  # the department answered a permanent 4xx


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver a ticket's generation to a department, and how it went."""

    ticket_id: str
    department: str
    generation: int
    endpoint: str | None
    status: DeliveryStatus
    response_status: int | None = None
    error: str | None = None
    target: str = "http"  # the endpoint, or a helpdesk write-back ("zendesk", "github", ...)
    response_body: str | None = None  # what the target answered (bounded), for the trail


class DeliveryRecord(BaseModel):
    """A stored delivery: one per (ticket, department, generation)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    ticket_id: str
    department: str
    generation: int
    endpoint: str | None
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None
    target: str = "http"
    response_body: str | None = None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RoutedTicket:
    """Where a ticket was sent and why: the route stage's result for one generation."""

    ticket_id: str
    generation: int
    department: str
    endpoint: str | None
    needs_review: bool
    reason: str
    delivery: DeliveryStatus  # delivered, or recorded when nothing was sent
    response_status: int | None = None
    latency_ms: float | None = None
    written_back: tuple[str, ...] = ()  # helpdesks the decision was written back to

    @property
    def event(self) -> str:
        """`delivered`, or `routing_recorded` when nothing was sent."""
        sent = self.delivery is DeliveryStatus.delivered or self.written_back
        return "delivered" if sent else "routing_recorded"

    def detail(self) -> dict[str, Any]:
        """The audit detail."""
        return {
            "department": self.department,
            "destination": self.endpoint,
            "needs_review": self.needs_review,
            "reason": self.reason,
            "generation": self.generation,
            "response_status": self.response_status,
            "latency_ms": round(self.latency_ms, 2) if self.latency_ms is not None else None,
            "written_back": list(self.written_back),
        }

    def delivery_attempt(self) -> DeliveryAttempt:
        """The delivery record this routing leaves."""
        return DeliveryAttempt(
            self.ticket_id,
            self.department,
            self.generation,
            self.endpoint,
            self.delivery,
            response_status=self.response_status,
        )


@dataclass(frozen=True)
class Closed:
    """What closing a ticket did: its final status, or the status that stopped the close."""

    ticket_id: str
    status: str
    closed: bool


STAGE_END_EVENTS = {"classified": "classify", "delivered": "route", "routing_recorded": "route"}


def stage_durations_ms(
    received_at: datetime, ends_by_event: list[tuple[str, datetime]], closed_at: datetime
) -> dict[str, float]:
    """Milliseconds from one stage's end to the next (queue wait included), from the trail.

    `ends_by_event` is (event, created_at) of the trail's events, oldest first.
    """
    ends: dict[str, datetime] = {}
    for event, created_at in ends_by_event:  # the last success of each stage counts (replays)
        if event in STAGE_END_EVENTS:
            ends[STAGE_END_EVENTS[event]] = created_at
    durations: dict[str, float] = {}
    previous = received_at
    for stage in ("classify", "route"):
        if stage in ends:
            durations[stage] = round((ends[stage] - previous).total_seconds() * 1000, 2)
            previous = ends[stage]
    durations["audit"] = round((closed_at - previous).total_seconds() * 1000, 2)
    durations["total"] = round((closed_at - received_at).total_seconds() * 1000, 2)
    return durations


def closing_detail(
    *,
    status: str,
    department: str | None,
    review_reason: str | None,
    attempts: int,
    received_at: datetime,
    ends_by_event: list[tuple[str, datetime]],
    closed_at: datetime,
) -> dict[str, Any]:
    """The `closed` event's detail: the final state and the time each stage took."""
    return {
        "status": status,
        "department": department,
        "review_reason": review_reason,
        "attempts": attempts,
        "stage_ms": stage_durations_ms(received_at, ends_by_event, closed_at),
    }


@dataclass(frozen=True)
class Reopening:
    """A final ticket put back before `stage` (a replay)."""

    ticket_id: str
    from_status: TicketStatus
    stage: Stage
    generation: int  # a new one when classify or route runs again
    clear_review_reason: bool  # a route re-run keeps a classify-time fallback reason
    actor: str

    @classmethod
    def of(cls, ticket: TicketRecord, stage: Stage, actor: str) -> Reopening:
        """Re-running classify or route opens a new delivery generation."""
        new_generation = stage in (Stage.classify, Stage.route)
        return cls(
            ticket.id,
            TicketStatus(ticket.status),
            stage,
            ticket.generation + 1 if new_generation else ticket.generation,
            clear_review_reason=stage is Stage.classify,
            actor=actor,
        )

    def detail(self) -> dict[str, Any]:
        """The `reopened` event's detail."""
        return {
            "from_status": self.from_status.value,
            "by": self.actor,
            "generation": self.generation,
        }


@dataclass(frozen=True)
class CategoryCorrection:
    """A person's category for a final ticket; a new department means a re-route."""

    ticket_id: str
    from_status: TicketStatus
    previous_category: str | None
    category: str
    department: str
    rerouted: bool
    generation: int  # the ticket's generation after the correction
    actor: str

    def detail(self) -> dict[str, Any]:
        """The `corrected` event's detail."""
        return {
            "from": self.previous_category,
            "to": self.category,
            "by": self.actor,
            "rerouted": self.rerouted,
            "department": self.department,
        }


@dataclass(frozen=True)
class OverdueTicket:
    """A ticket the sweeper re-enqueues, and the stage it resumes from."""

    ticket_id: str
    stage: Stage
    queue: Queue
