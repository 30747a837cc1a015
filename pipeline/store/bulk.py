"""Bulk inserts (ingest batches, backfills): one statement per batch, duplicates skipped.

Core statements on the tables, executed with a list of parameter sets: SQLAlchemy compiles
each statement once and caches it, and sends the rows as one multi-row INSERT
("insertmanyvalues"). Building `.values(rows)` instead compiles a new statement per batch
size, which cost more CPU than the database's whole share of the work.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.store.schema import AuditEventRow, TicketRow

TICKETS = cast(Table, TicketRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
# Mapped attribute names that differ from their column names.
_COLUMN_OF = {"extra": "metadata"}


@cache
def _insert_new_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id, per dialect."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(TICKETS)
        .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
        .returning(TICKETS.c.id)
    )


def insert_new_tickets(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ticket rows, skipping any whose (source, idempotency key) exists; returns new ids.

    Rows are keyed by the mapped attribute names (`extra`, not `metadata`).
    """
    if not rows:
        return set()
    connection = session.connection()
    statement = _insert_new_statement(connection.dialect.name)
    params = [{_COLUMN_OF.get(key, key): value for key, value in row.items()} for row in rows]
    return {row[0] for row in connection.execute(statement, params)}


def insert_audit_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Append many audit events in one statement."""
    if events:
        session.connection().execute(insert(AUDIT_EVENTS), events)
