"""Tickets as the domain sees them: what a producer submits, and what the store holds."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.domain.classification import Classification, Sentiment, TicketText, Urgency


class Priority(StrEnum):
    """The producer's own priority field."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketSubmission(BaseModel):
    """A ticket as a producer POSTs it; fields we do not know are kept as metadata."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    subject: str = Field(min_length=1, max_length=1000)
    description: str = Field(min_length=1, max_length=100_000)
    customer_id: str = Field(min_length=1, max_length=128)
    priority: Priority = Priority.normal
    created_at: datetime | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    category: str | None = Field(
        default=None, max_length=64, description="a known label (backfills), kept for training"
    )

    @field_validator("subject", "description", "customer_id", "external_id", "category")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail the insert.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("created_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
            raise ValueError("must be a time that exists in UTC (before year 10000)") from None

    def metadata(self) -> dict[str, Any]:
        """The producer's extra fields, kept as they came."""
        return dict(self.model_extra or {})


def payload_fingerprint(body: Any) -> str:
    """SHA-256 of the canonical JSON of a body: equal bodies, equal fingerprints."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class TicketRecord(BaseModel):
    """A snapshot of one stored ticket."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    source: str
    external_id: str | None
    queue: str
    subject: str
    description: str
    customer_id: str
    priority: str
    extra: dict[str, Any]
    known_category: str | None
    created_at: datetime | None
    received_at: datetime
    status: str
    category: str | None
    urgency: str | None
    language: str | None
    confidence: float | None
    urgency_confidence: float | None = None
    sentiment: str | None = None
    sentiment_confidence: float | None = None
    reason: str | None
    classifier: str | None
    model: str | None
    review_reason: str | None
    department: str | None
    connector: str | None = None
    generation: int
    attempts: int
    failed_stage: str | None
    last_error: str | None
    next_attempt_at: datetime | None
    retrying_since: datetime | None = None
    deliver: bool = True
    job_id: str | None = None
    updated_at: datetime
    finished_at: datetime | None

    def text(self) -> TicketText:
        """What a classifier may read of this ticket."""
        return TicketText(id=self.id, subject=self.subject, description=self.description)

    def classification(self) -> Classification | None:
        """The recorded decision, if the ticket was classified."""
        if self.category is None or self.confidence is None:
            return None
        return Classification(
            category=self.category,
            urgency=Urgency(self.urgency or "normal"),
            language=self.language or "und",
            confidence=self.confidence,
            urgency_confidence=self.urgency_confidence,
            sentiment=Sentiment(self.sentiment or "neutral"),
            sentiment_confidence=self.sentiment_confidence,
            reason=self.reason or "",
            classifier=self.classifier or "unknown",
            model=self.model or "unknown",
        )


class AuditEntry(BaseModel):
    """One event of a ticket's audit trail."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    ticket_id: str
    stage: str
    event: str
    detail: dict[str, Any]
    attempt: int
    created_at: datetime
