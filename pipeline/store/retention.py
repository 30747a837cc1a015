"""Data lifecycle in SQL: blank ticket text and PII in batches; the audit skeleton stays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, not_, select, update
from sqlalchemy.orm import Session

from pipeline.domain.lifecycle import FINAL_STATUSES, Stage
from pipeline.domain.operator import ERASED
from pipeline.ports import RetentionBatch
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


def _tombstone() -> ColumnElement[bool]:
    """A ticket already blanked: every column the blanking writes that a selection reads."""
    return and_(
        TicketRow.customer_id == ERASED,
        TicketRow.subject == ERASED,
        TicketRow.description == ERASED,
        TicketRow.external_id.is_(None),
    )


class SqlRetention:
    """The RetentionStore on the tickets database.

    Each batch walks the primary key (`id > after_id`): the blanking writes the very values
    the selection compares (`customer_id`, `description`), so a cursor on a column nobody
    writes is what makes a walk end, whatever the selected value is (`[erased]` included).
    """

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def erase_customer_batch(
        self, customer_id: str, *, actor: str, limit: int, after_id: str | None = None
    ) -> RetentionBatch:
        """Erase up to `limit` of a customer's tickets (ids after `after_id`) not yet erased."""
        query = select(TicketRow.id).where(TicketRow.customer_id == customer_id)
        # A tombstone: when and by whom, never what.
        return self._blank(query, after_id, limit, "erased", {"by": actor})

    def purge_batch(
        self, before: datetime, *, actor: str, limit: int, after_id: str | None = None
    ) -> RetentionBatch:
        """Purge up to `limit` final tickets received before `before` (ids after `after_id`)."""
        query = select(TicketRow.id).where(
            TicketRow.received_at < before,
            TicketRow.status.in_([s.value for s in FINAL_STATUSES]),
        )
        detail = {"by": actor, "before": before.isoformat()}
        return self._blank(query, after_id, limit, "purged", detail)

    def _blank(
        self,
        query: Select[str],
        after_id: str | None,
        limit: int,
        event: str,
        detail: dict[str, Any],
    ) -> RetentionBatch:
        """One transaction: blank the next `limit` tickets `query` finds after the cursor."""
        query = query.where(not_(_tombstone()))
        if after_id is not None:
            query = query.where(TicketRow.id > after_id)
        query = query.order_by(TicketRow.id).limit(limit)
        with self._store.transaction() as session:
            ids = list(session.scalars(query))
            if ids:
                _blank_in(session, ids, event, detail)
            return RetentionBatch(len(ids), ids[-1] if ids else after_id)


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
