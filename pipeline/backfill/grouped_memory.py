"""GroupedTransitions on any TicketRepository, a ticket at a time (the in-memory store's twin).

The same guarded changes as the SQL bulk statements, made with the repository's own
single-ticket operations: what the grouped stages do is then testable on the in-memory store.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.changes import ClassifiedTicket, Closed, RoutedTicket
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.ports import TicketRepository


class PerTicketGroupedTransitions:
    """The GroupedTransitions port over a TicketRepository (one transaction per ticket)."""

    def __init__(self, store: TicketRepository) -> None:
        self._store = store

    def _records(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        records: list[TicketRecord] = []
        for ticket_id in ticket_ids:
            try:
                records.append(self._store.get(ticket_id))
            except TicketNotFound:
                continue
        return records

    def tickets_among(
        self, ticket_ids: Sequence[str], status: TicketStatus | None
    ) -> list[TicketRecord]:
        """The given tickets that are in `status` (None: in any), in the order given."""
        return [t for t in self._records(ticket_ids) if status is None or t.status == status]

    def statuses_of(self, ticket_ids: Sequence[str]) -> dict[str, str]:
        """Each stored ticket's status (a ticket not stored is absent)."""
        return {t.id: str(t.status) for t in self._records(ticket_ids)}

    def mark_classified_group(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """received → classified for many, audit `classified` each; the ids that moved."""
        return [c.ticket_id for c in classified if self._store.mark_classified(c, attempt=attempt)]

    def mark_routed_group(self, routed: Sequence[RoutedTicket], *, attempt: int) -> list[str]:
        """classified → routed for many (nothing sent), audit each; the ids that moved."""
        return [r.ticket_id for r in routed if self._store.mark_routed(r, attempt=attempt)]

    def close_group(self, ticket_ids: Sequence[str], *, attempt: int) -> list[Closed]:
        """routed → done/needs_review for many, audit `closed` each; those closed."""
        closed = [self._store.close(ticket_id, attempt=attempt) for ticket_id in ticket_ids]
        return [c for c in closed if c.closed]
