"""Bulk inserts for backfills: one statement per batch, duplicates skipped by the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.store.schema import AuditEventRow, TicketRow


def insert_new_tickets(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ticket rows, skipping any whose (source, idempotency key) exists; returns new ids."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(TicketRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
        .returning(TicketRow.id)
    )
    return {row[0] for row in session.execute(statement)}


def insert_audit_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Append many audit events in one statement."""
    if events:
        session.execute(insert(AuditEventRow), events)
