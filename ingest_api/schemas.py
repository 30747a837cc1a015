"""Response bodies as pydantic models: the views serialise them, the OpenAPI document reads them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pipeline.domain.classification import Classification


class Links(BaseModel):
    """Where to read a ticket and its trail."""

    self: str
    logs: str


class AcceptedTicket(BaseModel):
    """The answer to an accepted (202) or repeated (200) ticket."""

    id: str
    status: str
    links: Links


class RerunAccepted(AcceptedTicket):
    """A stage re-run was scheduled."""

    stage: str


class TicketView(BaseModel):
    """A ticket with its state, nested classification and department."""

    id: str
    source: str
    external_id: str | None
    status: str = Field(description="received, classified, routed, done, needs_review or failed")
    subject: str
    description: str
    customer_id: str
    priority: str
    metadata: dict[str, Any] = Field(description="the producer's extra fields, as sent")
    queue: str
    classification: Classification | None
    department: str | None
    review_reason: str | None
    generation: int
    attempts: int
    failed_stage: str | None
    last_error: str | None
    created_at: str | None = Field(description="the producer's time, ISO 8601 UTC")
    received_at: str
    updated_at: str
    finished_at: str | None
    links: Links


class AuditEventView(BaseModel):
    """One event of a ticket's audit trail."""

    id: int
    stage: str
    event: str
    attempt: int
    detail: dict[str, Any]
    created_at: str


class AuditLog(BaseModel):
    """A ticket's audit events, oldest first."""

    ticket_id: str
    events: list[AuditEventView]


class TicketPage(BaseModel):
    """One page of tickets; pass `next_cursor` as `cursor` for the next."""

    tickets: list[TicketView]
    next_cursor: str | None


class Health(BaseModel):
    """The process answers."""

    status: str


class ErrorDetail(BaseModel):
    """What went wrong, with a stable machine-readable code."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


class Readiness(BaseModel):
    """Whether the store and the broker are reachable."""

    status: str
    checks: dict[str, dict[str, Any]]
    degraded: list[str] | None = None  # ready, but these checks say part of the work is limited
    error: ErrorDetail | None = None
