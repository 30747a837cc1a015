"""Retriage in SQL: final tickets to re-run the classifier on, and one change per transaction."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, func, select

from pipeline.domain.lifecycle import Stage
from pipeline.domain.models import TicketRecord
from pipeline.ports import Retriage, RetriageFilter, RetriageStore, TicketRepository
from pipeline.store.engine import Sessions
from pipeline.store.guarded import TICKETS, append_audit, guarded_update, moved
from pipeline.store.retriage_fields import retriage_moves, retriaged_fields
from pipeline.store.schema import TicketRow

Row = TypeVar("Row")


class _LeftAlone(Exception):
    """The ticket moved on since it was read: roll the change back."""


def _matching(query: Select[Row], which: RetriageFilter) -> Select[Row]:
    """Only the tickets the filter names."""
    query = query.where(TicketRow.status.in_([s.value for s in which.statuses]))
    if which.since is not None:
        query = query.where(TicketRow.received_at >= which.since)
    if which.category is not None:
        query = query.where(TicketRow.category == which.category)
    return query


class SqlRetriage:
    """The RetriageStore on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def retriage_count(self, which: RetriageFilter) -> int:
        """How many tickets match."""
        with self._store.read() as session:
            return int(session.scalar(_matching(select(func.count(TicketRow.id)), which)) or 0)

    def retriage_candidates(
        self, which: RetriageFilter, *, limit: int, after_id: str | None = None
    ) -> list[TicketRecord]:
        """Up to `limit` matching tickets with ids after `after_id`, in id order."""
        query = _matching(select(TicketRow), which)
        if after_id is not None:
            query = query.where(TicketRow.id > after_id)
        with self._store.read() as session:
            rows = session.scalars(query.order_by(TicketRow.id).limit(limit))
            return [TicketRecord.model_validate(row) for row in rows]

    def retriage(self, change: Retriage) -> bool:
        """Apply one change with its `retriaged` audit event (False: the ticket moved on)."""
        values = retriaged_fields(change)
        try:
            with self._store.transaction() as session:
                for step, (move, source, target) in enumerate(retriage_moves(change)):
                    query = guarded_update(
                        change.ticket_id, move, source, values if step == 0 else {}, to=target
                    )
                    if step == 0:  # only the generation that was read: a correction since wins
                        query = query.where(TICKETS.c.generation == change.generation)
                    if not moved(session, query):
                        raise _LeftAlone(change.ticket_id)
                detail = change.detail()
                append_audit(session, change.ticket_id, Stage.classify, "retriaged", detail)
        except _LeftAlone:
            return False
        return True


def retriage_store(repository: TicketRepository) -> RetriageStore:
    """The retriage operations on the repository's own storage (SQL, or its memory twin)."""
    from pipeline.store.memory import InMemoryTicketRepository

    if isinstance(repository, InMemoryTicketRepository):
        from pipeline.store.memory_retriage import MemoryRetriage

        return MemoryRetriage(repository)
    if isinstance(repository, Sessions):
        return SqlRetriage(repository)
    raise TypeError(f"no retriage operations for {type(repository).__name__}")
