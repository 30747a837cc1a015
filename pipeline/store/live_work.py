"""Live work under way, read from the store: what a backfill yields to.

A live ticket is under way from the commit that accepts it to its final state, queued or
running: the store knows both, the broker only the first (a ticket a live worker took is no
longer in its queue). A ticket waiting for a retry, or untouched for longer than the caller's
horizon (its worker died; the sweeper will bring it back), is not under way. The count reads
one partial index of the few live tickets not yet final, so history can ask often: one
statement on a pooled connection, no ORM session (a backfill asks between all its steps).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, bindparam, func, select, text

from pipeline.domain.lifecycle import Queue
from pipeline.store.schema import LIVE_UNDER_WAY, LIVE_UNDER_WAY_SQL, TicketRow

if TYPE_CHECKING:
    from pipeline.store.memory import InMemoryTicketRepository

COUNT_UNDER_WAY = select(func.count()).where(
    text(LIVE_UNDER_WAY_SQL),  # literally the index's predicate (see schema)
    TicketRow.updated_at >= bindparam("since"),
    TicketRow.next_attempt_at.is_(None),
    TicketRow.retrying_since.is_(None),
)


class SqlLiveWork:
    """The LiveWork port on the SQL store."""

    def __init__(self, engine: Engine) -> None:
        # A read that needs no snapshot: on PostgreSQL no BEGIN/ROLLBACK round trips.
        level = "AUTOCOMMIT" if engine.dialect.name != "sqlite" else None
        self._engine = engine.execution_options(isolation_level=level) if level else engine

    def in_flight(self, *, since: datetime) -> int:
        """Live tickets accepted and not yet final, touched since `since`, none waiting a retry."""
        with self._engine.connect() as connection:
            return int(connection.execute(COUNT_UNDER_WAY, {"since": since}).scalar() or 0)


class InMemoryLiveWork:
    """The LiveWork port on the in-memory repository."""

    def __init__(self, store: InMemoryTicketRepository) -> None:
        self._store = store

    def in_flight(self, *, since: datetime) -> int:
        """Live tickets accepted and not yet final, touched since `since`, none waiting a retry."""
        return sum(
            1
            for status in LIVE_UNDER_WAY
            for t in self._store.list_tickets(status=status.value, since=since, limit=10**9)
            if t.queue == Queue.live and t.next_attempt_at is None and t.retrying_since is None
        )
