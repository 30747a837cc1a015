"""Delivery records: one per (ticket, department, target, generation), with its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pipeline.domain.changes import DeliveryAttempt, DeliveryStatus
from pipeline.store.schema import DeliveryRow, utcnow

DELIVERIES = cast(Table, DeliveryRow.__table__)


DELIVERY_KEY = [
    DELIVERIES.c.ticket_id,
    DELIVERIES.c.department,
    DELIVERIES.c.target,
    DELIVERIES.c.generation,
]


def delivery_values(delivery: DeliveryAttempt) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's columns for a new row, and what an existing row's upsert sets."""
    now = utcnow()
    counted = 0 if delivery.status is DeliveryStatus.recorded else 1
    values = {
        "ticket_id": delivery.ticket_id,
        "department": delivery.department,
        "target": delivery.target,
        "generation": delivery.generation,
        "endpoint": delivery.endpoint,
        "status": delivery.status.value,
        "attempts": counted,
        "response_status": delivery.response_status,
        "last_error": delivery.error,
        "response_body": delivery.response_body,
        "created_at": now,
        "updated_at": now,
    }
    on_conflict = {
        "attempts": DELIVERIES.c.attempts + counted,
        "status": delivery.status.value,
        "response_status": delivery.response_status,
        "last_error": delivery.error,
        "response_body": delivery.response_body,
        "updated_at": now,
    }
    return values, on_conflict


def save_delivery_attempt(session: Session, delivery: DeliveryAttempt) -> None:
    """Insert or update the delivery record, counting one more attempt (inside a transaction).

    One atomic upsert on the (ticket, department, target, generation) key: no read first, and two
    workers recording the same delivery at once still count both attempts.
    """
    values, on_conflict = delivery_values(delivery)
    insert = _insert_for(session)(DELIVERIES).values(**values)
    session.execute(insert.on_conflict_do_update(index_elements=DELIVERY_KEY, set_=on_conflict))


def _insert_for(session: Session) -> Callable[[Table], Any]:
    # ON CONFLICT is spelled alike by both dialects we run on, but each has its own construct.
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert
    return postgresql_insert
