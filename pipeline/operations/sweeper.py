"""Find tickets whose current stage did not finish by its deadline, and claim them for requeue."""

from __future__ import annotations

from pipeline.domain.changes import OverdueTicket
from pipeline.ports import TicketRepository


def claim_overdue_tickets(
    store: TicketRepository, *, sweep_after_s: float, limit: int = 500
) -> list[OverdueTicket]:
    """Tickets stuck in a non-final state past the deadline, or whose next attempt is due.

    Claiming touches `updated_at` (in the same transaction as an audit event per ticket), so
    the next sweep leaves them alone until the deadline passes again.
    """
    return store.claim_overdue(sweep_after_s=sweep_after_s, limit=limit)
