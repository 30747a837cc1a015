"""The grouped classify stage (backfills): many tickets per classifier call, one transaction.

A task's group may be larger than one classifier call: it is asked in chunks of
`chunk_size` (one LLM request each, TRIAGE_LLM_GROUP_SIZE), and each chunk's answers are
recorded as soon as they come, so a failure later in the group loses no answer paid for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.domain.changes import ClassifiedTicket
from pipeline.domain.classification import Classification
from pipeline.domain.models import TicketRecord
from pipeline.ports import Classifier, GroupedTransitions, TicketRepository
from pipeline.stages.classify import decision_audit
from pipeline.stages.decisions import decide_group_per_ticket


@dataclass(frozen=True)
class GroupOutcome:
    """Which tickets the group classified, and which must be classified alone."""

    classified: list[str]
    alone: list[str]
    skipped: int
    calls: int = 0
    decisions: dict[str, Classification] = field(default_factory=dict)  # of the classified

    def summary(self) -> str:
        """A short, PII-free result line."""
        return (
            f"classify group: {len(self.classified)} classified, {len(self.alone)} left to "
            f"classify alone, {self.skipped} already done"
        )


def classify_group_of_tickets(
    store: TicketRepository,
    classifier: Classifier,
    ticket_ids: Sequence[str],
    *,
    attempt: int = 1,
    grouped: GroupedTransitions | None = None,
    chunk_size: int | None = None,
    received: list[TicketRecord] | None = None,
    between_chunks: Callable[[], object] | None = None,
) -> GroupOutcome:
    """Classify every `received` ticket of the group; record each chunk in one transaction.

    `received`: the group's received tickets when the caller has read them already;
    `between_chunks`: called before each chunk after the first (the backfill's pace).
    """
    tickets = store.received_among(list(ticket_ids)) if received is None else received
    if not tickets:
        return GroupOutcome([], [], len(ticket_ids))
    size = chunk_size or len(tickets)
    classified: list[str] = []
    alone: list[str] = []
    decisions: dict[str, Classification] = {}
    for start in range(0, len(tickets), size):
        if start and between_chunks is not None:
            between_chunks()
        chunk = tickets[start : start + size]
        started = time.perf_counter()
        answers, calls = decide_group_per_ticket(
            classifier, [t.text() for t in chunk], chunk[0].queue
        )
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        decided = [
            ClassifiedTicket(
                ticket.id,
                decision,
                {**decision_audit(decision, latency_ms), "grouped": True, **calls[ticket.id]},
            )
            for ticket in chunk
            if (decision := answers.get(ticket.id)) is not None
        ]
        if grouped is not None:
            moved = grouped.mark_classified_group(decided, attempt=attempt)
        else:
            moved = store.mark_classified_many(decided, attempt=attempt)
        classified += moved
        decisions.update((i, answers[i]) for i in moved)
        alone += [t.id for t in chunk if t.id not in answers]
    calls_made = -(-len(tickets) // size)
    skipped = len(ticket_ids) - len(tickets)
    return GroupOutcome(classified, alone, skipped, calls_made, decisions)
