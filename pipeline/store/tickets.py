"""The ticket repository on SQL: reads, named state changes and intake, one transaction each.

`TicketStore` implements `pipeline.ports.TicketRepository`. Its sessions (`transaction`,
`read`, `lookup`) and `move` are the store's own tools, for modules of pipeline/store only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, text, update

from pipeline.domain.changes import Acceptance
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission
from pipeline.store.api_keys import SqlApiKeys
from pipeline.store.backfill_jobs import SqlBackfill
from pipeline.store.guarded import COLUMNS, TICKETS
from pipeline.store.intake import acceptance_of, received_ticket, store_new_tickets
from pipeline.store.llm_batches import SqlLLMBatches
from pipeline.store.reads import TicketReads
from pipeline.store.reports import SqlReports
from pipeline.store.retention import SqlRetention
from pipeline.store.schema import Base, utcnow
from pipeline.store.transitions import TicketTransitions


class TicketStore(TicketReads, TicketTransitions):
    """Tickets and their audit trail in a SQL database (SQLite in memory serves tests)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # The operator-side repositories (pipeline.ports.OperatorStores) on the same database.
        self.api_keys = SqlApiKeys(self)
        self.backfill = SqlBackfill(self)
        self.llm_batches = SqlLLMBatches(self)
        self.reports = SqlReports(self)
        self.retention = SqlRetention(self)

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def accept(
        self,
        submission: TicketSubmission,
        *,
        source: str,
        idempotency_key: str | None,
        payload_hash: str,
        queue: Queue = Queue.live,
        connector: str | None = None,
    ) -> Acceptance:
        """Store a new ticket as `received` with its audit event, or return the earlier one."""
        row, detail = received_ticket(
            submission,
            source=source,
            idempotency_key=idempotency_key,
            payload_hash=payload_hash,
            queue=queue,
            connector=connector,
        )
        with self.transaction() as session:
            stored = store_new_tickets(session, [row], [detail])
        return acceptance_of(row, stored, self.get)

    # --- test hooks: set up states the pipeline would take long to reach ---------------------

    def overwrite_for_tests(self, ticket_id: str, **fields: Any) -> None:
        """Set ticket fields directly, bypassing the lifecycle (tests only)."""
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise ValueError(f"no ticket fields {sorted(unknown)}")
        changes = {"updated_at": utcnow(), **fields}
        query = update(TICKETS).where(TICKETS.c.id == ticket_id)
        with self.transaction() as session:
            session.execute(query.values({COLUMNS[k]: v for k, v in changes.items()}))

    def delete_everything_for_tests(self) -> None:
        """Empty every table (tests only)."""
        with self.transaction() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
