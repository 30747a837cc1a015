"""Retriage in memory: the twin of pipeline/store/retriage.py, on the in-memory repository."""

from __future__ import annotations

from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.ports import Retriage, RetriageFilter
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.retriage_fields import retriage_moves, retriaged_fields


def _matches(ticket: TicketRecord, which: RetriageFilter) -> bool:
    return (
        TicketStatus(ticket.status) in which.statuses
        and (which.since is None or ticket.received_at >= which.since)
        and (which.category is None or ticket.category == which.category)
    )


class MemoryRetriage:
    """The RetriageStore on an InMemoryTicketRepository: the same rules, under its lock."""

    def __init__(self, repository: InMemoryTicketRepository) -> None:
        self._repo = repository

    def retriage_count(self, which: RetriageFilter) -> int:
        """How many tickets match."""
        with self._repo._lock:
            return sum(_matches(t, which) for t in self._repo._tickets.values())

    def retriage_candidates(
        self, which: RetriageFilter, *, limit: int, after_id: str | None = None
    ) -> list[TicketRecord]:
        """Up to `limit` matching tickets with ids after `after_id`, in id order."""
        with self._repo._lock:
            found = [
                t
                for t in self._repo._tickets.values()
                if _matches(t, which) and (after_id is None or t.id > after_id)
            ]
        return sorted(found, key=lambda t: t.id)[:limit]

    def retriage(self, change: Retriage) -> bool:
        """Apply one change with its `retriaged` audit event (False: the ticket moved on)."""
        repo = self._repo
        with repo._lock:
            ticket = repo._tickets.get(change.ticket_id)
            if ticket is None or ticket.generation != change.generation:
                return False
            before = dict(repo._tickets)
            for step, (move, source, target) in enumerate(retriage_moves(change)):
                values = retriaged_fields(change) if step == 0 else {}
                if not repo._move(change.ticket_id, move, source, values, to=target):
                    repo._tickets = before  # all or nothing, as the SQL transaction
                    return False
            repo._audit(change.ticket_id, Stage.classify, "retriaged", change.detail())
        return True
