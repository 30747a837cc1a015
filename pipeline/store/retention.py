"""Data lifecycle in SQL: blank ticket text and PII in batches; the audit skeleton stays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from pipeline.domain.lifecycle import FINAL_STATUSES, Stage
from pipeline.domain.operator import ERASED
from pipeline.store.bulk import insert_audit_events
from pipeline.store.engine import Sessions
from pipeline.store.schema import TicketRow, utcnow

# Everything that can hold the customer's words or identity; the skeleton (status, category,
# department, timestamps, audit events) stays for statistics and accountability.
_BLANKED: dict[str, object] = {
    "subject": ERASED,
    "description": ERASED,
    "extra": {},
    "reason": None,
    "last_error": None,
    "external_id": None,
    "customer_id": ERASED,
}


class SqlRetention:
    """The RetentionStore on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def erase_customer_batch(self, customer_id: str, *, actor: str, limit: int) -> int:
        """Erase up to `limit` of a customer's tickets not yet erased; how many."""
        query = select(TicketRow.id).where(TicketRow.customer_id == customer_id).limit(limit)
        # A tombstone: when and by whom, never what.
        return self._blank(query, "erased", {"by": actor})

    def purge_batch(self, before: datetime, *, actor: str, limit: int) -> int:
        """Purge up to `limit` final tickets received before `before`; how many."""
        query = (
            select(TicketRow.id)
            .where(
                TicketRow.received_at < before,
                TicketRow.status.in_([s.value for s in FINAL_STATUSES]),
                TicketRow.description != ERASED,
            )
            .limit(limit)
        )
        return self._blank(query, "purged", {"by": actor, "before": before.isoformat()})

    def _blank(self, query: Select[str], event: str, detail: dict[str, Any]) -> int:
        """One transaction: blank the tickets `query` finds and audit each."""
        with self._store.transaction() as session:
            ids = list(session.scalars(query))
            if ids:
                _blank_in(session, ids, event, detail)
            return len(ids)


def _blank_in(session: Session, ids: list[str], event: str, detail: dict[str, Any]) -> None:
    now = utcnow()
    session.execute(
        update(TicketRow).where(TicketRow.id.in_(ids)).values(**_BLANKED, updated_at=now)
    )
    insert_audit_events(
        session,
        [
            {
                "ticket_id": ticket_id,
                "stage": Stage.audit.value,
                "event": event,
                "detail": dict(detail),
                "attempt": 0,
                "created_at": now,
            }
            for ticket_id in ids
        ],
    )
