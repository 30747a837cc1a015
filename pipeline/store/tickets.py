"""The ticket repository: accept, read and list tickets; each write is one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Row, Table, Update, func, insert, select, text, update
from sqlalchemy.orm import Session

from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.domain.models import AuditEntry, TicketRecord, TicketSubmission
from pipeline.store.engine import session_factory, write_transaction_guard
from pipeline.store.intake import (
    Acceptance,
    acceptance_of,
    received_ticket,
    store_new_tickets,
)
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow


def append_audit(
    session: Session,
    ticket_id: str,
    stage: Stage,
    event: str,
    detail: dict[str, Any] | None = None,
    *,
    attempt: int = 0,
    at: datetime | None = None,
) -> None:
    """Add an audit event to the current transaction (it commits with the state it explains)."""
    # A Core INSERT, sent at once: no ORM unit of work at flush, no RETURNING of the new id.
    session.execute(
        insert(AUDIT_EVENTS).values(
            ticket_id=ticket_id,
            stage=stage.value,
            event=event,
            detail=detail or {},
            attempt=attempt,
            created_at=at or utcnow(),
        )
    )


class TicketStore:
    """Tickets and their audit trail in a SQL database (SQLite in memory serves tests)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        # Single reads need no transaction: on PostgreSQL, autocommit spares each one its
        # BEGIN and ROLLBACK round trips. SQLite's are local calls, and its BEGIN is ours.
        self._lookups = (
            self._sessions
            if engine.dialect.name == "sqlite"
            else session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with write_transaction_guard(self.engine), self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (never takes the write lock; loaded objects stay readable)."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A session for reads that need no common snapshot (each runs on its own)."""
        with self._lookups() as session:
            yield session

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def accept(
        self,
        submission: TicketSubmission,
        *,
        source: str,
        idempotency_key: str | None,
        payload_hash: str,
        queue: Queue = Queue.live,
    ) -> Acceptance:
        """Store a new ticket as `received` with its audit event, or return the earlier one."""
        row, detail = received_ticket(
            submission,
            source=source,
            idempotency_key=idempotency_key,
            payload_hash=payload_hash,
            queue=queue,
        )
        with self.transaction() as session:
            stored = store_new_tickets(session, [row], [detail])
        return acceptance_of(row, stored, self.get)

    def get(self, ticket_id: str) -> TicketRecord:
        """Load one ticket by id, or raise TicketNotFound."""
        with self.lookup() as session:
            return load_ticket(session, ticket_id)

    def audit_trail(self, ticket_id: str) -> list[AuditEntry]:
        """A ticket's audit events, oldest first."""
        with self._sessions() as session:
            if session.get(TicketRow, ticket_id) is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            rows = session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.ticket_id == ticket_id)
                .order_by(AuditEventRow.id)
            )
            return [AuditEntry.model_validate(r) for r in rows]

    def count_by_status(self, ticket_ids: list[str] | None = None) -> dict[str, int]:
        """How many tickets are in each status (optionally among the given ids)."""
        query = select(TicketRow.status, func.count()).group_by(TicketRow.status)
        if ticket_ids is not None:
            query = query.where(TicketRow.id.in_(ticket_ids))
        with self._sessions() as session:
            return {status: count for status, count in session.execute(query).all()}

    def list_tickets(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        after_id: str | None = None,
        limit: int = 100,
    ) -> list[TicketRecord]:
        """Tickets filtered by status and update time, in stable (updated_at, id) order."""
        query = select(TicketRow).order_by(TicketRow.updated_at, TicketRow.id).limit(limit)
        if status is not None:
            query = query.where(TicketRow.status == status)
        if since is not None:
            query = query.where(TicketRow.updated_at >= since)
        if after_id is not None:
            with self._sessions() as session:
                anchor = session.get(TicketRow, after_id)
            if anchor is not None:
                query = query.where(
                    (TicketRow.updated_at > anchor.updated_at)
                    | ((TicketRow.updated_at == anchor.updated_at) & (TicketRow.id > anchor.id))
                )
        with self._sessions() as session:
            return [TicketRecord.model_validate(r) for r in session.scalars(query)]

    def move(
        self,
        session: Session,
        ticket_id: str,
        *,
        expected: TicketStatus | None,
        values: dict[str, Any],
    ) -> bool:
        """Update a ticket only if it is still in `expected` state; False when it moved on."""
        result = session.execute(_guarded_update(ticket_id, expected, values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def move_returning(
        self,
        session: Session,
        ticket_id: str,
        *,
        expected: TicketStatus | None,
        values: dict[str, Any],
    ) -> Row[Any] | None:
        """`move`, answering with the updated ticket's columns (None when it moved on)."""
        query = _guarded_update(ticket_id, expected, values).returning(*TICKETS.columns)
        return session.execute(query).one_or_none()


def load_ticket(session: Session, ticket_id: str) -> TicketRecord:
    """One ticket by id in `session`, or raise TicketNotFound."""
    row = session.get(TicketRow, ticket_id)
    if row is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return TicketRecord.model_validate(row)


TICKETS = cast(Table, TicketRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
# Mapped attribute name -> column ("extra" is the `metadata` column): `move` takes attribute
# names but runs a Core UPDATE, which skips the ORM's bulk-update machinery (5% of a worker).
_COLUMNS = {attr.key: attr.columns[0] for attr in TicketRow.__mapper__.column_attrs}


def _guarded_update(
    ticket_id: str, expected: TicketStatus | None, values: dict[str, Any]
) -> Update:
    query = update(TICKETS).where(TICKETS.c.id == ticket_id)
    if expected is not None:
        query = query.where(TICKETS.c.status == expected.value)
    if "status" in values:  # a new stage starts with a clean retry record
        values = {"retrying_since": None, "next_attempt_at": None, **values}
    changes = {"updated_at": utcnow(), **values}
    return query.values({_COLUMNS[name]: value for name, value in changes.items()})
