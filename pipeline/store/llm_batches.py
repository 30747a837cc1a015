"""A backfill job's tickets while a provider's batch job classifies them (SQL).

A hold is a `next_attempt_at` on tickets still `received`: the sweeper would otherwise
re-enqueue tickets left `received` for hours and pay for them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.domain.changes import ClassifiedTicket
from pipeline.domain.classification import TicketText
from pipeline.domain.lifecycle import Move, Stage, TicketStatus
from pipeline.store.bulk import insert_audit_events
from pipeline.store.fields import classified_values
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.transitions import TicketTransitions


class SqlLLMBatches:
    """The LLMBatchLedger on the tickets database."""

    def __init__(self, store: TicketTransitions) -> None:
        self._store = store

    def received_texts(self, job_id: str) -> list[TicketText]:
        """The job's tickets still `received`, in load order."""
        with self._store.read() as session:
            rows = session.scalars(
                select(TicketRow)
                .where(TicketRow.job_id == job_id, TicketRow.status == TicketStatus.received.value)
                .order_by(TicketRow.received_at, TicketRow.id)
            )
            return [TicketText(id=r.id, subject=r.subject, description=r.description) for r in rows]

    def hold(self, batch: str, ticket_ids: Sequence[str], until: datetime) -> None:
        """Keep the sweeper off the tickets still `received` until `until`; audit why."""
        detail = {"llm_batch": batch, "held_until": until.isoformat()}
        with self._store.transaction() as session:
            events = [
                _event(ticket_id, "batch_submitted", detail)
                for ticket_id in ticket_ids
                if self._still_received(session, ticket_id, {"next_attempt_at": until})
            ]
            insert_audit_events(session, events)

    def release(self, batch: str, ticket_ids: Sequence[str], why: str) -> list[str]:
        """Lift the hold on tickets still `received`; those ids."""
        with self._store.transaction() as session:
            left, events = self._release_in(session, batch, ticket_ids, why)
            insert_audit_events(session, events)
        return left

    def record_answers(
        self, batch: str, answers: Sequence[ClassifiedTicket], ticket_ids: Sequence[str], why: str
    ) -> tuple[list[str], list[str]]:
        """One transaction: classify the answered, release the rest; (classified, left)."""
        classified: list[str] = []
        events: list[dict[str, Any]] = []
        with self._store.transaction() as session:
            for answer in answers:
                moved = self._store.move(
                    session,
                    answer.ticket_id,
                    expected=TicketStatus.received,
                    values=classified_values(answer.decision),
                    operation=Move.classify,
                )
                if not moved:
                    continue  # classified meanwhile by another path: its record stands
                events.append(_event(answer.ticket_id, "classified", dict(answer.detail), 1))
                classified.append(answer.ticket_id)
            # Answered tickets that moved on meanwhile are not `received`: the release skips them.
            recorded = set(classified)
            unanswered = [i for i in ticket_ids if i not in recorded]
            left, released = self._release_in(session, batch, unanswered, why)
            insert_audit_events(session, events + released)
        return classified, left

    def _release_in(
        self, session: Session, batch: str, ticket_ids: Sequence[str], why: str
    ) -> tuple[list[str], list[dict[str, Any]]]:
        left = [
            ticket_id
            for ticket_id in ticket_ids
            if self._still_received(session, ticket_id, {"next_attempt_at": None})
        ]
        detail = {"llm_batch": batch, "why": why}
        return left, [_event(ticket_id, "batch_unanswered", detail) for ticket_id in left]

    def _still_received(self, session: Session, ticket_id: str, values: dict[str, Any]) -> bool:
        return self._store.move(
            session, ticket_id, expected=TicketStatus.received, values=values, operation=Move.hold
        )


def _event(ticket_id: str, event: str, detail: dict[str, Any], attempt: int = 0) -> dict[str, Any]:
    """A classify-stage audit event, written with the change it explains."""
    return {
        "ticket_id": ticket_id,
        "stage": Stage.classify.value,
        "event": event,
        "detail": dict(detail),
        "attempt": attempt,
        "created_at": utcnow(),
    }
