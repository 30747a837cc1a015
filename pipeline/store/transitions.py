"""The SQL store's named state changes: each a guarded UPDATE with the audit event explaining it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from pipeline.domain.changes import (
    STAGE_END_EVENTS,
    CategoryCorrection,
    ClassifiedTicket,
    Closed,
    DeliveryAttempt,
    FailedAttempt,
    OverdueTicket,
    Reopening,
    RoutedTicket,
    closing_detail,
)
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import (
    NEXT_STAGE,
    STAGE_INPUT_STATUS,
    Move,
    Queue,
    Stage,
    TicketStatus,
)
from pipeline.ports import FetchedTicket
from pipeline.store import fields
from pipeline.store.deliveries import save_delivery_attempt
from pipeline.store.engine import Sessions
from pipeline.store.guarded import TICKETS, append_audit, guarded_update, moved
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow
from pipeline.store.single_statement import audit_row, write_move

PENDING_STATUSES = tuple(status.value for status in NEXT_STAGE)
CLOSED_STATUSES = (TicketStatus.done, TicketStatus.needs_review)
# lifecycle.final_status in SQL, so closing stays one UPDATE ... RETURNING: a review reason
# (a fallback decision, a low confidence...) sends the ticket to review.
FINAL_STATUS_SQL = case(
    (
        and_(TicketRow.review_reason.is_not(None), TicketRow.review_reason != ""),
        TicketStatus.needs_review.value,
    ),
    else_=TicketStatus.done.value,
)


class TicketTransitions(Sessions):
    """The named state changes of the ticket repository, one transaction each."""

    def move(
        self,
        session: Session,
        ticket_id: str,
        *,
        expected: TicketStatus,
        values: Mapping[str, Any],
        operation: Move | None = None,
    ) -> bool:
        """In `session`: update a ticket only while it is `expected`; False when it moved on.

        For store modules only. A new `status` in `values` must be a move the lifecycle allows
        (of `operation`, or of any operation when None).
        """
        changes = dict(values)
        target = changes.pop("status", None)
        query = guarded_update(
            ticket_id,
            operation,
            expected,
            changes,
            to=None if target is None else TicketStatus(target),
        )
        return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def fill_fetched(self, ticket_id: str, fetched: FetchedTicket, *, attempt: int) -> bool:
        """A `received` ticket's text from its helpdesk's API; audit `fetched` (False: moved on)."""
        values = fields.fetched_fields(fetched)
        with self.transaction() as session:
            query = guarded_update(ticket_id, Move.retry, TicketStatus.received, values)
            if not moved(session, query):
                return False
            append_audit(
                session,
                ticket_id,
                Stage.classify,
                "fetched",
                fields.fetched_detail(fetched),
                attempt=attempt,
            )
        return True

    def mark_classified(self, classified: ClassifiedTicket, *, attempt: int) -> bool:
        """received → classified with the decision; audit `classified`."""
        return bool(self.mark_classified_many([classified], attempt=attempt))

    def mark_classified_many(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """`mark_classified` for a group in one transaction; the ids that moved, in order."""
        done: list[str] = []
        with self.writes(len(classified)) as session:
            for one in classified:
                query = guarded_update(
                    one.ticket_id,
                    Move.classify,
                    TicketStatus.received,
                    fields.classified_fields(one),
                    to=TicketStatus.classified,
                )
                audit = audit_row(Stage.classify, "classified", one.detail, attempt=attempt)
                if write_move(session, one.ticket_id, query, audit):
                    done.append(one.ticket_id)
        return done

    def record_attempt(self, ticket_id: str, failure: FailedAttempt) -> bool:
        """A transient failure at the stage's input state; audit `attempt_failed`/`waiting`."""
        now = utcnow()
        values: dict[str, Any] = {
            "last_error": failure.error,
            "retrying_since": func.coalesce(TicketRow.retrying_since, now),
        }
        if failure.counts_as_attempt:
            values["attempts"] = TicketRow.attempts + 1
        if failure.defer:
            values["next_attempt_at"] = now + timedelta(seconds=failure.retry_in_s)
        expected = STAGE_INPUT_STATUS[failure.stage]
        with self.transaction() as session:
            if not moved(session, guarded_update(ticket_id, Move.retry, expected, values, now=now)):
                return False
            append_audit(
                session,
                ticket_id,
                failure.stage,
                failure.event,
                failure.detail(),
                attempt=failure.attempt,
                at=now,
            )
        return True

    def fail(
        self, ticket_id: str, stage: Stage, *, error: str, permanent: bool, attempt: int
    ) -> bool:
        """The stage's input state → failed (replayable); audit `failed`."""
        query = guarded_update(
            ticket_id,
            Move.fail,
            STAGE_INPUT_STATUS[stage],
            fields.failed_fields(stage, error),
            to=TicketStatus.failed,
        )
        with self.transaction() as session:
            if not moved(session, query):
                return False
            detail = {"error": error, "permanent": permanent}
            append_audit(session, ticket_id, stage, "failed", detail, attempt=attempt)
        return True

    def record_delivery_attempt(self, delivery: DeliveryAttempt) -> None:
        """Count one more attempt of a delivery that did not succeed (pending or rejected)."""
        with self.transaction() as session:
            save_delivery_attempt(session, delivery)

    def mark_routed(self, routed: RoutedTicket, *, attempt: int) -> bool:
        """classified → routed, with its delivery record; audit `delivered`/`routing_recorded`."""
        query = guarded_update(
            routed.ticket_id,
            Move.route,
            TicketStatus.classified,
            fields.routed_fields(routed),
            to=TicketStatus.routed,
        )
        audit = audit_row(Stage.route, routed.event, routed.detail(), attempt=attempt)
        with self.writes(1) as session:
            return write_move(session, routed.ticket_id, query, audit, routed.delivery_attempt())

    def close(self, ticket_id: str, *, attempt: int) -> Closed:
        """routed → done or needs_review (lifecycle.final_status); audit `closed`."""
        now = utcnow()
        values = {"status": FINAL_STATUS_SQL, "finished_at": now}
        query = guarded_update(
            ticket_id, Move.close, TicketStatus.routed, values, to=CLOSED_STATUSES, now=now
        ).returning(
            TICKETS.c.status,
            TICKETS.c.department,
            TICKETS.c.review_reason,
            TICKETS.c.attempts,
            TICKETS.c.received_at,
        )
        # One transaction: the guarded UPDATE picks the final state and answers with the ticket,
        # the trail gives the stage times; a redelivered audit finds nothing to update.
        with self.transaction() as session:
            ticket = session.execute(query).one_or_none()
            if ticket is None:
                status = session.scalar(select(TicketRow.status).where(TicketRow.id == ticket_id))
                if status is None:
                    raise TicketNotFound(f"no ticket {ticket_id}")
                return Closed(ticket_id, status, closed=False)
            ends = session.execute(
                select(AuditEventRow.event, AuditEventRow.created_at)
                .where(
                    AuditEventRow.ticket_id == ticket_id,
                    AuditEventRow.event.in_(STAGE_END_EVENTS),
                )
                .order_by(AuditEventRow.id)
            ).all()
            detail = closing_detail(
                status=ticket.status,
                department=ticket.department,
                review_reason=ticket.review_reason,
                attempts=ticket.attempts,
                received_at=ticket.received_at,
                ends_by_event=[(e.event, e.created_at) for e in ends],
                closed_at=now,
            )
            append_audit(session, ticket_id, Stage.audit, "closed", detail, attempt=attempt, at=now)
        return Closed(ticket_id, ticket.status, closed=True)

    def reopen(self, reopening: Reopening) -> bool:
        """A final ticket back before a stage (replay); audit `reopened`."""
        query = guarded_update(
            reopening.ticket_id,
            Move.reopen,
            reopening.from_status,
            fields.reopened_fields(reopening),
            to=STAGE_INPUT_STATUS[reopening.stage],
        )
        with self.transaction() as session:
            if not moved(session, query):
                return False
            append_audit(
                session, reopening.ticket_id, reopening.stage, "reopened", reopening.detail()
            )
        return True

    def correct(self, correction: CategoryCorrection) -> bool:
        """A person's category on a final ticket (→ classified if re-routed); audit `corrected`."""
        query = guarded_update(
            correction.ticket_id,
            Move.correct,
            correction.from_status,
            fields.corrected_fields(correction),
            to=TicketStatus.classified if correction.rerouted else None,
        )
        with self.transaction() as session:
            if not moved(session, query):
                return False
            append_audit(
                session, correction.ticket_id, Stage.classify, "corrected", correction.detail()
            )
        return True

    def claim_overdue(self, *, sweep_after_s: float, limit: int = 500) -> list[OverdueTicket]:
        """Claim tickets stuck past the deadline or due a deferred attempt; audit `requeued`.

        Claiming touches `updated_at` (with an audit event per ticket), so the next sweep leaves
        them alone until the deadline passes again.
        """
        now = utcnow()
        deadline = now - timedelta(seconds=sweep_after_s)
        with self.transaction() as session:
            rows = session.execute(
                select(TicketRow.id, TicketRow.status, TicketRow.queue, TicketRow.updated_at)
                .where(
                    TicketRow.status.in_(PENDING_STATUSES),
                    or_(
                        (TicketRow.next_attempt_at.is_(None) & (TicketRow.updated_at < deadline)),
                        TicketRow.next_attempt_at <= now,
                    ),
                )
                .order_by(TicketRow.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            claimed: list[OverdueTicket] = []
            for ticket_id, status, queue, updated_at in rows:
                stage = NEXT_STAGE[TicketStatus(status)]
                values = {"next_attempt_at": None}
                expected = TicketStatus(status)
                session.execute(guarded_update(ticket_id, Move.requeue, expected, values, now=now))
                waited_s = round((now - updated_at).total_seconds(), 1)
                append_audit(session, ticket_id, stage, "requeued", {"waited_s": waited_s}, at=now)
                claimed.append(OverdueTicket(ticket_id, stage, Queue(queue)))
        return claimed
