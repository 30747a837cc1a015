"""Data lifecycle: purge old ticket text, erase a customer's data; the audit skeleton stays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.domain.lifecycle import FINAL_STATUSES, Stage
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.tickets import TicketStore, append_audit

ERASED = "[erased]"
BATCH = 500

# Everything that can hold the customer's words or identity; the skeleton (status, category,
# department, timestamps, audit events) stays for statistics and accountability.
_BLANKED: dict[str, object] = {
    "subject": ERASED,
    "description": ERASED,
    "extra": {},
    "reason": None,
    "last_error": None,
    "external_id": None,
}


def erase_customer(store: TicketStore, customer_id: str, *, actor: str) -> int:
    """Erase the text and PII of every ticket of a customer; returns how many were erased."""
    erased = 0
    while True:
        with store.transaction() as session:
            ids = list(
                session.scalars(
                    select(TicketRow.id).where(TicketRow.customer_id == customer_id).limit(BATCH)
                )
            )
            if not ids:
                return erased
            # A tombstone: when and by whom, never what.
            _blank(session, ids, "erased", {"by": actor})
            erased += len(ids)


def purge_before(store: TicketStore, before: datetime, *, actor: str) -> int:
    """Remove the text of finished tickets received before `before`; returns how many."""
    purged = 0
    finals = [s.value for s in FINAL_STATUSES]
    while True:
        with store.transaction() as session:
            ids = list(
                session.scalars(
                    select(TicketRow.id)
                    .where(
                        TicketRow.received_at < before,
                        TicketRow.status.in_(finals),
                        TicketRow.description != ERASED,
                    )
                    .limit(BATCH)
                )
            )
            if not ids:
                return purged
            _blank(session, ids, "purged", {"by": actor, "before": before.isoformat()})
            purged += len(ids)


def _blank(session: Session, ids: list[str], event: str, detail: dict[str, object]) -> None:
    now = utcnow()
    session.execute(
        update(TicketRow)
        .where(TicketRow.id.in_(ids))
        .values(**_BLANKED, customer_id=ERASED, updated_at=now)
    )
    for ticket_id in ids:
        append_audit(session, ticket_id, Stage.audit, event, dict(detail), at=now)
