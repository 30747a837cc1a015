"""The in-memory ticket repository's state and its reads (see pipeline.store.memory)."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline.domain.changes import DeliveryAttempt, DeliveryRecord, DeliveryStatus, TicketRef
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.domain.models import AuditEntry, TicketRecord
from pipeline.store.schema import utcnow


class InMemoryReads:
    """Tickets, audit events and deliveries held in dicts; every read under the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tickets: dict[str, TicketRecord] = {}
        self._events: list[AuditEntry] = []
        self._deliveries: dict[tuple[str, str, str, int], DeliveryRecord] = {}
        self._event_ids = itertools.count(1)

    def get(self, ticket_id: str) -> TicketRecord:
        """One ticket, or raise TicketNotFound."""
        with self._lock:
            return self._get(ticket_id)

    def audit_trail(self, ticket_id: str) -> list[AuditEntry]:
        """A ticket's audit events, oldest first (TicketNotFound if there is no ticket)."""
        with self._lock:
            self._get(ticket_id)
            return self._trail(ticket_id)

    def list_tickets(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        after_id: str | None = None,
        limit: int = 100,
    ) -> list[TicketRecord]:
        """Tickets filtered by status and update time, in stable (updated_at, id) order."""
        with self._lock:
            tickets = sorted(self._tickets.values(), key=lambda t: (t.updated_at, t.id))
            anchor = self._tickets.get(after_id) if after_id is not None else None
        found = [
            t
            for t in tickets
            if (status is None or t.status == status)
            and (since is None or t.updated_at >= since)
            and (anchor is None or (t.updated_at, t.id) > (anchor.updated_at, anchor.id))
        ]
        return found[:limit]

    def count_by_status(self, ticket_ids: list[str] | None = None) -> dict[str, int]:
        """How many tickets are in each status (optionally among the given ids)."""
        with self._lock:
            wanted = self._tickets.keys() if ticket_ids is None else set(ticket_ids)
            return dict(Counter(t.status for i, t in self._tickets.items() if i in wanted))

    def find_refs(
        self,
        *,
        status: TicketStatus,
        since: datetime | None = None,
        category: str | None = None,
        limit: int = 100_000,
    ) -> list[TicketRef]:
        """Tickets in `status` (updated since, of category), least recently updated first."""
        with self._lock:
            tickets = sorted(self._tickets.values(), key=lambda t: t.updated_at)
        found = [
            TicketRef(t.id, Queue(t.queue))
            for t in tickets
            if t.status == status
            and (since is None or t.updated_at >= since)
            and (category is None or t.category == category)
        ]
        return found[:limit]

    def received_among(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The given tickets that are still `received`."""
        with self._lock:
            found = (self._tickets.get(i) for i in dict.fromkeys(ticket_ids))
            return [t for t in found if t is not None and t.status == TicketStatus.received]

    def get_with_deliveries(
        self, ticket_id: str
    ) -> tuple[TicketRecord, dict[tuple[str, str], DeliveryRecord]]:
        """A ticket and its current generation's deliveries by (department, target)."""
        with self._lock:
            ticket = self._get(ticket_id)
            deliveries = {
                (d.department, d.target): d
                for (owner, _, _, generation), d in self._deliveries.items()
                if owner == ticket_id and generation == ticket.generation
            }
        return ticket, deliveries

    def deliveries(self, ticket_id: str) -> list[DeliveryRecord]:
        """Every delivery record of a ticket, oldest first."""
        with self._lock:
            return [d for (owner, _, _, _), d in self._deliveries.items() if owner == ticket_id]

    def _get(self, ticket_id: str) -> TicketRecord:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        return ticket

    def _trail(self, ticket_id: str) -> list[AuditEntry]:
        return [e for e in self._events if e.ticket_id == ticket_id]

    def _audit(
        self,
        ticket_id: str,
        stage: Stage,
        event: str,
        detail: Mapping[str, Any],
        attempt: int = 0,
        *,
        at: datetime | None = None,
    ) -> None:
        self._events.append(
            AuditEntry(
                id=next(self._event_ids),
                ticket_id=ticket_id,
                stage=stage.value,
                event=event,
                detail=dict(detail),
                attempt=attempt,
                created_at=at or utcnow(),
            )
        )

    def _save_delivery(self, delivery: DeliveryAttempt) -> None:
        key = (delivery.ticket_id, delivery.department, delivery.target, delivery.generation)
        now = utcnow()
        counted = 0 if delivery.status is DeliveryStatus.recorded else 1
        earlier = self._deliveries.get(key)
        self._deliveries[key] = DeliveryRecord(
            ticket_id=delivery.ticket_id,
            department=delivery.department,
            generation=delivery.generation,
            endpoint=delivery.endpoint if earlier is None else earlier.endpoint,
            status=delivery.status.value,
            attempts=counted + (earlier.attempts if earlier else 0),
            response_status=delivery.response_status,
            last_error=delivery.error,
            target=delivery.target,
            response_body=delivery.response_body,
            created_at=earlier.created_at if earlier else now,
            updated_at=now,
        )
