"""Writing to tickets: the guarded UPDATE every state change goes through, and audit events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, insert, update
from sqlalchemy.orm import Session

from pipeline.domain.lifecycle import Move, Stage, TicketStatus, check_move
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow

TICKETS = cast(Table, TicketRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
# Mapped attribute name -> column ("extra" is the `metadata` column): updates take attribute
# names but run as Core UPDATEs, which skip the ORM's bulk-update machinery (5% of a worker).
COLUMNS = {attr.key: attr.columns[0] for attr in TicketRow.__mapper__.column_attrs}


def append_audit(
    session: Session,
    ticket_id: str,
    stage: Stage,
    event: str,
    detail: Mapping[str, Any] | None = None,
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
            detail=dict(detail or {}),
            attempt=attempt,
            created_at=at or utcnow(),
        )
    )


def guarded_update(
    ticket_id: str,
    move: Move | None,
    expected: TicketStatus,
    values: Mapping[str, Any],
    *,
    to: TicketStatus | Sequence[TicketStatus] | None = None,
    now: datetime | None = None,
) -> Update:
    """UPDATE the ticket only while it is `expected`, after the lifecycle allowed the move.

    `to` is the new status (None: it stays); a sequence when SQL picks one (`values["status"]`).
    """
    targets = (expected,) if to is None else (to,) if isinstance(to, TicketStatus) else to
    for target in targets:
        check_move(move, expected, target)  # an illegal move raises before any SQL
    changes: dict[str, Any] = {"updated_at": now or utcnow()}
    if to is not None:  # a new stage starts with a clean retry record
        changes |= {"retrying_since": None, "next_attempt_at": None}
        if isinstance(to, TicketStatus):
            changes["status"] = to.value
    changes |= values
    query = update(TICKETS).where(TICKETS.c.id == ticket_id, TICKETS.c.status == expected.value)
    return query.values({COLUMNS[name]: value for name, value in changes.items()})


def moved(session: Session, query: Update) -> bool:
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]
