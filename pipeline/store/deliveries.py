"""Delivery records: one per (ticket, department, generation), with its outcome."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.schema import DeliveryRow, utcnow
from pipeline.store.tickets import TicketStore


class DeliveryStatus(StrEnum):
    """Where one delivery stands."""

    pending = "pending"  # attempted, not yet acknowledged
    delivered = "delivered"  # the department answered 2xx
    recorded = "recorded"  # the department has no endpoint: the routing is only recorded
    rejected = "rejected"  # the department answered a permanent 4xx


def find_delivery(
    store: TicketStore, ticket_id: str, department: str, generation: int
) -> DeliveryRow | None:
    """The delivery record for this ticket, department and generation, if any."""
    with store.read() as session:
        return session.scalars(
            select(DeliveryRow).where(
                DeliveryRow.ticket_id == ticket_id,
                DeliveryRow.department == department,
                DeliveryRow.generation == generation,
            )
        ).one_or_none()


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
    """Insert or update the delivery record, counting one more attempt (inside a transaction)."""
    now = utcnow()
    row = session.scalars(
        select(DeliveryRow)
        .where(
            DeliveryRow.ticket_id == ticket_id,
            DeliveryRow.department == department,
            DeliveryRow.generation == generation,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        row = DeliveryRow(
            ticket_id=ticket_id,
            department=department,
            generation=generation,
            endpoint=endpoint,
            attempts=0,
            created_at=now,
        )
        session.add(row)
    if status is not DeliveryStatus.recorded:
        row.attempts = (row.attempts or 0) + 1
    row.status = status.value
    row.response_status = response_status
    row.last_error = error
    row.updated_at = now


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
