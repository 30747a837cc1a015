"""The grouped classify stage (backfills): many tickets per classifier call, one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.ports import Classifier
from pipeline.stages.classify import classified_values, decision_audit
from pipeline.stages.decisions import decide_group
from pipeline.store.schema import TicketRow
from pipeline.store.tickets import TicketStore, append_audit


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


def load_received(store: TicketStore, ticket_ids: list[str]) -> list[TicketRecord]:
    """The tickets of the group still waiting for classification (others were done already)."""
    with store.lookup() as session:
        rows = session.scalars(
            select(TicketRow).where(
                TicketRow.id.in_(ticket_ids), TicketRow.status == TicketStatus.received.value
            )
        )
        return [TicketRecord.model_validate(row) for row in rows]


def classify_group_of_tickets(
    store: TicketStore, classifier: Classifier, ticket_ids: list[str], *, attempt: int = 1
) -> GroupOutcome:
    """Classify every `received` ticket of the group; record all answers in one transaction."""
    tickets = load_received(store, ticket_ids)
    if not tickets:
        return GroupOutcome([], [], len(ticket_ids))
    started = time.perf_counter()
    answers, call = decide_group(classifier, [t.text() for t in tickets], tickets[0].queue)
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    classified: list[str] = []
    with store.transaction() as session:
        for ticket in tickets:
            decision = answers.get(ticket.id)
            if decision is None:
                continue
            moved = store.move(
                session,
                ticket.id,
                expected=TicketStatus.received,
                values=classified_values(decision),
            )
            if not moved:
                continue
            append_audit(
                session,
                ticket.id,
                Stage.classify,
                "classified",
                {**decision_audit(decision, latency_ms), "grouped": True, **call},
                attempt=attempt,
            )
            classified.append(ticket.id)
    alone = [t.id for t in tickets if t.id not in answers]
    return GroupOutcome(classified, alone, len(ticket_ids) - len(tickets))
