"""Delivery records: one per (ticket, department, generation), with its outcome."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, and_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.domain.errors import TicketNotFound
from pipeline.domain.models import TicketRecord
from pipeline.store.schema import DeliveryRow, TicketRow, utcnow
from pipeline.store.tickets import TicketStore


class DeliveryStatus(StrEnum):
    """Where one delivery stands."""

    pending = "pending"  # attempted, not yet acknowledged
    delivered = "delivered"  # the department answered 2xx
    recorded = "recorded"  # the department has no endpoint: the routing is only recorded
    rejected = "rejected"  # the department answered a permanent 4xx


def load_with_deliveries(
    session: Session, ticket_id: str
) -> tuple[TicketRecord, dict[str, DeliveryRow]]:
    """A ticket and its delivery records of its current generation, by department: one query."""
    rows = session.execute(
        select(TicketRow, DeliveryRow)
        .outerjoin(
            DeliveryRow,
            and_(
                DeliveryRow.ticket_id == TicketRow.id,
                DeliveryRow.generation == TicketRow.generation,
            ),
        )
        .where(TicketRow.id == ticket_id)
    ).all()
    if not rows:
        raise TicketNotFound(f"no ticket {ticket_id}")
    deliveries = {row.department: row for _, row in rows if row is not None}
    return TicketRecord.model_validate(rows[0][0]), deliveries


def save_delivery_attempt(
    session: Session,
    *,
    ticket_id: str,
    department: str,
    generation: int,
    endpoint: str | None,
    status: DeliveryStatus,
    response_status: int | None = None,
    error: str | None = None,
) -> None:
    """Insert or update the delivery record, counting one more attempt (inside a transaction).

    One atomic upsert on the (ticket, department, generation) key: no read first, and two
    workers recording the same delivery at once still count both attempts.
    """
    now = utcnow()
    counted = 0 if status is DeliveryStatus.recorded else 1
    insert = _insert_for(session)(DELIVERIES).values(
        ticket_id=ticket_id,
        department=department,
        generation=generation,
        endpoint=endpoint,
        status=status.value,
        attempts=counted,
        response_status=response_status,
        last_error=error,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[
                DELIVERIES.c.ticket_id,
                DELIVERIES.c.department,
                DELIVERIES.c.generation,
            ],
            set_={
                "attempts": DELIVERIES.c.attempts + counted,
                "status": status.value,
                "response_status": response_status,
                "last_error": error,
                "updated_at": now,
            },
        )
    )


DELIVERIES = cast(Table, DeliveryRow.__table__)


def _insert_for(session: Session) -> Callable[[Table], Any]:
    # ON CONFLICT is spelled alike by both dialects we run on, but each has its own construct.
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert
    return postgresql_insert


def list_deliveries(store: TicketStore, ticket_id: str) -> list[DeliveryRow]:
    """Every delivery record of a ticket, oldest first."""
    with store.read() as session:
        return list(
            session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.ticket_id == ticket_id)
                .order_by(DeliveryRow.id)
            )
        )
