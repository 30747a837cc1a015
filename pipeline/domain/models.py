"""Tickets as the domain sees them: what a producer submits, and what the store holds."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.domain.classification import Classification, Sentiment, TicketText, Urgency


class Priority(StrEnum):
    """The producer's own priority field."""

    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


# A text field needs one character that is not whitespace (Python's `str.isspace`); the value
# is stored without its surrounding whitespace. The OpenAPI document states the same pattern.
HAS_TEXT = r"\S"
# Idempotency keys the API derives itself are stored with these prefixes; an external_id may
# not start with one, so a producer's ids, its header keys and content keys never collide.
RESERVED_KEY_PREFIXES = ("sha256:", "webhook-id:", "idempotency-key:")
# created_at: an RFC 3339 date-time (offset optional: without one it is UTC), nothing looser.
# Years 1000 to 8999, so every offset still lands on a time that exists in UTC.
DATE_TIME = (
    r"^[1-8][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|02-(0[1-9]|1[0-9]|2[0-9]))[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
)
# Extra fields: any JSON, but numbers below 1e20 in magnitude and no NUL in strings or keys.
EXTRA_VALUE_SCHEMA: dict[str, Any] = {
    "description": "an extra field: JSON nested at most 32 deep, numbers of magnitude below "
    "1e20, strings and keys without NUL",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number", "exclusiveMinimum": -1e20, "exclusiveMaximum": 1e20},
        {"type": "string", "pattern": "^[^\\u0000]*$"},
        {"type": "array", "items": {"$ref": "#/components/schemas/ExtraValue"}},
        {
            "type": "object",
            "additionalProperties": {"$ref": "#/components/schemas/ExtraValue"},
            "propertyNames": {"pattern": "^[^\\u0000]*$"},
        },
    ],
}
_EXTERNAL_ID_SCHEMA: dict[str, Any] = {
    "not": {"pattern": "^(" + "|".join(p.rstrip(":") for p in RESERVED_KEY_PREFIXES) + "):"}
}


def _text(max_length: int, description: str | None = None) -> Any:
    return Field(min_length=1, max_length=max_length, pattern=HAS_TEXT, description=description)


class TicketSubmission(BaseModel):
    """A ticket as a producer POSTs it; fields we do not know are kept as metadata."""

    # The OpenAPI document adds EXTRA_VALUE_SCHEMA as `additionalProperties`.
    model_config = ConfigDict(extra="allow", regex_engine="python-re")

    subject: str = _text(1000)
    description: str = _text(100_000)
    customer_id: str = _text(128)
    priority: Priority = Priority.normal
    created_at: datetime | None = Field(
        default=None,
        description="RFC 3339 date-time string; without an offset it is read as UTC; the year "
        "is years 1000 to 8999",
        json_schema_extra={"pattern": DATE_TIME},
    )
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=HAS_TEXT,
        description="the producer's own id: its identity across Idempotency-Keys; may not "
        "start with " + ", ".join(RESERVED_KEY_PREFIXES),
        json_schema_extra=_EXTERNAL_ID_SCHEMA,
    )
    category: str | None = Field(
        default=None,
        max_length=64,
        pattern=HAS_TEXT,
        description="a known label (backfills), kept for training",
    )

    @field_validator("subject", "description", "customer_id", "external_id", "category")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail the insert.
        if value is None:
            return None
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value.strip()

    @field_validator("external_id")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(RESERVED_KEY_PREFIXES):
            raise ValueError("must not start with " + ", ".join(RESERVED_KEY_PREFIXES))
        return value

    @field_validator("created_at", mode="before")
    @classmethod
    def _date_string(cls, value: Any) -> Any:
        if isinstance(value, datetime) or value is None:
            return value
        if not isinstance(value, str) or re.fullmatch(DATE_TIME, value) is None:
            raise ValueError("must be an RFC 3339 date-time string")
        return value

    @field_validator("created_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
            raise ValueError("must be a time that exists in UTC (years 1 to 9999)") from None

    @model_validator(mode="after")
    def _storable_extras(self) -> TicketSubmission:
        # Extra fields are stored as JSON: no NUL anywhere (PostgreSQL refuses it).
        if _holds_nul(self.model_extra or {}):
            raise ValueError("extra fields must not contain NUL characters")
        return self

    def metadata(self) -> dict[str, Any]:
        """The producer's extra fields, kept as they came."""
        return dict(self.model_extra or {})


def _holds_nul(value: Any) -> bool:
    pending = [value]
    for item in pending:  # grows as containers open: each nested value is visited once
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def identity_key(
    *,
    external_id: str | None,
    signed_id: str | None = None,
    header_key: str | None = None,
    fingerprint: str | None = None,
) -> str | None:
    """The key a ticket's repeats are recognised by, within its source.

    The producer's external_id first (the ticket's own identity, whatever key came with it);
    else the signed `webhook-id` of a verified request (a replay with a fresh header cannot
    make a new ticket); else the unsigned header key; else the content (batches), else none.
    Each derived kind has its own prefix, so the kinds never share a key space.
    """
    if external_id is not None:
        return external_id
    if signed_id is not None:
        return f"webhook-id:{signed_id}"
    if header_key is not None:
        return f"idempotency-key:{header_key}"
    if fingerprint is not None:
        return f"sha256:{fingerprint}"
    return None


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
