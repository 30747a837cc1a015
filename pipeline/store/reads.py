"""Reading tickets, their trail and their deliveries from the SQL store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pipeline.domain.changes import DeliveryRecord, TicketRef
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Queue, TicketStatus
from pipeline.domain.models import AuditEntry, TicketRecord
from pipeline.store.engine import Sessions
from pipeline.store.schema import AuditEventRow, DeliveryRow, TicketRow


def load_ticket(session: Session, ticket_id: str) -> TicketRecord:
    """One ticket by id in `session`, or raise TicketNotFound."""
    row = session.get(TicketRow, ticket_id)
    if row is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    return TicketRecord.model_validate(row)


class TicketReads(Sessions):
    """The read operations of the ticket repository."""

    def get(self, ticket_id: str) -> TicketRecord:
        """Load one ticket by id, or raise TicketNotFound."""
        with self.lookup() as session:
            return load_ticket(session, ticket_id)

    def audit_trail(self, ticket_id: str) -> list[AuditEntry]:
        """A ticket's audit events, oldest first."""
        with self.read() as session:
            if session.get(TicketRow, ticket_id) is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            rows = session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.ticket_id == ticket_id)
                .order_by(AuditEventRow.id)
            )
            return [AuditEntry.model_validate(r) for r in rows]

    def count_by_status(self, ticket_ids: list[str] | None = None) -> dict[str, int]:
        """How many tickets are in each status (optionally among the given ids)."""
        query = select(TicketRow.status, func.count()).group_by(TicketRow.status)
        if ticket_ids is not None:
            query = query.where(TicketRow.id.in_(ticket_ids))
        with self.read() as session:
            return {status: count for status, count in session.execute(query).all()}

    def list_tickets(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        after_id: str | None = None,
        limit: int = 100,
    ) -> list[TicketRecord]:
        """Tickets filtered by status and update time, in stable (updated_at, id) order."""
        query = select(TicketRow).order_by(TicketRow.updated_at, TicketRow.id).limit(limit)
        if status is not None:
            query = query.where(TicketRow.status == status)
        if since is not None:
            query = query.where(TicketRow.updated_at >= since)
        if after_id is not None:
            with self.read() as session:
                anchor = session.get(TicketRow, after_id)
            if anchor is not None:
                query = query.where(
                    (TicketRow.updated_at > anchor.updated_at)
                    | ((TicketRow.updated_at == anchor.updated_at) & (TicketRow.id > anchor.id))
                )
        with self.read() as session:
            return [TicketRecord.model_validate(r) for r in session.scalars(query)]

    def find_refs(
        self,
        *,
        status: TicketStatus,
        since: datetime | None = None,
        category: str | None = None,
        limit: int = 100_000,
    ) -> list[TicketRef]:
        """Tickets in `status` (updated since, of category), least recently updated first."""
        query = select(TicketRow.id, TicketRow.queue).where(TicketRow.status == status.value)
        if since is not None:
            query = query.where(TicketRow.updated_at >= since)
        if category is not None:
            query = query.where(TicketRow.category == category)
        with self.read() as session:
            rows = session.execute(query.order_by(TicketRow.updated_at).limit(limit))
            return [TicketRef(ticket_id, Queue(queue)) for ticket_id, queue in rows]

    def received_among(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The given tickets that are still `received`."""
        with self.lookup() as session:
            rows = session.scalars(
                select(TicketRow).where(
                    TicketRow.id.in_(ticket_ids), TicketRow.status == TicketStatus.received.value
                )
            )
            return [TicketRecord.model_validate(row) for row in rows]

    def get_with_deliveries(
        self, ticket_id: str
    ) -> tuple[TicketRecord, dict[tuple[str, str], DeliveryRecord]]:
        """A ticket and its current generation's deliveries by (department, target): one query."""
        with self.lookup() as session:
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
            deliveries = {
                (row.department, row.target): DeliveryRecord.model_validate(row)
                for _, row in rows
                if row is not None
            }
            return TicketRecord.model_validate(rows[0][0]), deliveries

    def deliveries(self, ticket_id: str) -> list[DeliveryRecord]:
        """Every delivery record of a ticket, oldest first."""
        with self.read() as session:
            rows = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.ticket_id == ticket_id)
                .order_by(DeliveryRow.id)
            )
            return [DeliveryRecord.model_validate(row) for row in rows]
