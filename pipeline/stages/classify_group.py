"""The grouped classify stage (backfills): many tickets per classifier call, one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pipeline.domain.changes import ClassifiedTicket
from pipeline.ports import Classifier, TicketRepository
from pipeline.stages.classify import decision_audit
from pipeline.stages.decisions import decide_group_per_ticket


@dataclass(frozen=True)
class GroupOutcome:
    """Which tickets the group classified, and which must be classified alone."""

    classified: list[str]
    alone: list[str]
    skipped: int

    def summary(self) -> str:
        """A short, PII-free result line."""
        return (
            f"classify group: {len(self.classified)} classified, {len(self.alone)} left to "
            f"classify alone, {self.skipped} already done"
        )


def classify_group_of_tickets(
    store: TicketRepository, classifier: Classifier, ticket_ids: list[str], *, attempt: int = 1
) -> GroupOutcome:
    """Classify every `received` ticket of the group; record all answers in one transaction."""
    tickets = store.received_among(ticket_ids)  # the others were done already
    if not tickets:
        return GroupOutcome([], [], len(ticket_ids))
    started = time.perf_counter()
    answers, calls = decide_group_per_ticket(
        classifier, [t.text() for t in tickets], tickets[0].queue
    )
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    decided = [
        ClassifiedTicket(
            ticket.id,
            decision,
            {**decision_audit(decision, latency_ms), "grouped": True, **calls[ticket.id]},
        )
        for ticket in tickets
        if (decision := answers.get(ticket.id)) is not None
    ]
    classified = store.mark_classified_many(decided, attempt=attempt)
    alone = [t.id for t in tickets if t.id not in answers]
    return GroupOutcome(classified, alone, len(ticket_ids) - len(tickets))
