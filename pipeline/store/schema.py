"""SQLAlchemy 2.x typed tables: tickets, audit events, deliveries, API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pipeline.domain.lifecycle import Queue, TicketStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


# Live tickets under way (accepted, not final): a handful at any time, however many a backfill
# has stored. The partial index holds only them; a query must spell the same predicate,
# literally, for the planner to use it (pipeline.store.live_work).
LIVE_UNDER_WAY = (TicketStatus.received, TicketStatus.classified, TicketStatus.routed)
LIVE_UNDER_WAY_SQL = (
    f"queue = '{Queue.live.value}' AND status IN "
    f"({', '.join(repr(s.value) for s in LIVE_UNDER_WAY)})"
)


class TicketRow(Base):
    """One ticket and its current state."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "idempotency_key", name="uq_tickets_source_idempotency_key"),
        Index("ix_tickets_status_updated_at", "status", "updated_at"),
        Index("ix_tickets_customer_id", "customer_id"),
        Index("ix_tickets_next_attempt_at", "next_attempt_at"),
        Index(
            "ix_tickets_live_under_way",
            "updated_at",
            postgresql_where=text(LIVE_UNDER_WAY_SQL),
            sqlite_where=text(LIVE_UNDER_WAY_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    payload_hash: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(16), default="live")

    subject: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str] = mapped_column(String(128))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    known_category: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    confidence: Mapped[float | None] = mapped_column(Float)
    urgency_confidence: Mapped[float | None] = mapped_column(Float)
    sentiment: Mapped[str | None] = mapped_column(String(16))
    sentiment_confidence: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    classifier: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128))
    review_reason: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(64))
    # The helpdesk connector the ticket came through (zendesk, github, email...); None: the API.
    connector: Mapped[str | None] = mapped_column(String(32))

    generation: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stage_runs: Mapped[int] = mapped_column(Integer, default=0)
    failed_stage: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retrying_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Backfilled tickets are classified and audited, but delivered only when asked.
    deliver: Mapped[bool] = mapped_column(Boolean, default=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEventRow(Base):
    """Append-only trail: every decision, attempt, latency and error of a ticket."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    """One ticket's delivery to one department's target in one generation, and its outcome."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "ticket_id",
            "department",
            "target",
            "generation",
            name="uq_deliveries_ticket_dept_target_gen",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    department: Mapped[str] = mapped_column(String(64))
    # "http" (the department's endpoint) or a helpdesk write-back target ("zendesk", ...).
    target: Mapped[str] = mapped_column(String(32), default="http", server_default="http")
    generation: Mapped[int] = mapped_column(Integer)
    endpoint: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackfillJobRow(Base):
    """A backfill run: where it read, how far it got, and what happened to the rows."""

    __tablename__ = "backfill_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    enqueued: Mapped[int] = mapped_column(Integer, default=0)
    # The last input line whose batch was committed: a resumed run starts after it.
    last_line: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """An API key: only a keyed hash of it is stored, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
