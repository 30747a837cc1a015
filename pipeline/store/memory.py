"""The ticket repository in memory: the same operations, guards and audit events as SQL.

Stage unit tests run on it (no database); thread-safe, so workers' threads may share one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.domain.changes import (
    STAGE_END_EVENTS,
    Acceptance,
    CategoryCorrection,
    ClassifiedTicket,
    Closed,
    DeliveryAttempt,
    FailedAttempt,
    IdempotencyConflict,
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
    check_move,
    final_status,
)
from pipeline.domain.models import TicketRecord, TicketSubmission
from pipeline.ports import FetchedTicket
from pipeline.store import fields
from pipeline.store.intake import received_ticket, record_from_row
from pipeline.store.memory_reads import InMemoryReads
from pipeline.store.schema import utcnow


class InMemoryTicketRepository(InMemoryReads):
    """Tickets, deliveries and the audit trail in dicts, behind one lock."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}  # (source, key) -> (id, hash)

    def ping(self) -> None:
        """Always reachable."""

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
        with self._lock:
            if idempotency_key is not None:
                earlier = self._keys.get((source, idempotency_key))
                if earlier is not None:
                    if earlier[1] != payload_hash:
                        raise IdempotencyConflict(earlier[0])
                    return Acceptance(self._tickets[earlier[0]], created=False)
                self._keys[(source, idempotency_key)] = (row["id"], payload_hash)
            ticket = record_from_row(row)
            self._tickets[ticket.id] = ticket
            self._audit(ticket.id, Stage.ingest, "received", detail, at=ticket.received_at)
        return Acceptance(ticket, created=True)

    def fill_fetched(self, ticket_id: str, fetched: FetchedTicket, *, attempt: int) -> bool:
        """A `received` ticket's text from its helpdesk's API; audit `fetched` (False: moved on)."""
        with self._lock:
            changes = fields.fetched_fields(fetched)
            if not self._move(ticket_id, Move.retry, TicketStatus.received, changes):
                return False
            self._audit(
                ticket_id, Stage.classify, "fetched", fields.fetched_detail(fetched), attempt
            )
        return True

    def mark_classified(self, classified: ClassifiedTicket, *, attempt: int) -> bool:
        """received → classified with the decision; audit `classified`."""
        return bool(self.mark_classified_many([classified], attempt=attempt))

    def mark_classified_many(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """`mark_classified` for a group at once; the ids that moved, in order."""
        moved: list[str] = []
        with self._lock:
            for one in classified:
                changes = fields.classified_fields(one)
                if self._move(
                    one.ticket_id,
                    Move.classify,
                    TicketStatus.received,
                    changes,
                    to=TicketStatus.classified,
                ):
                    self._audit(one.ticket_id, Stage.classify, "classified", one.detail, attempt)
                    moved.append(one.ticket_id)
        return moved

    def record_attempt(self, ticket_id: str, failure: FailedAttempt) -> bool:
        """A transient failure at the stage's input state; audit `attempt_failed`/`waiting`."""
        now = utcnow()
        expected = STAGE_INPUT_STATUS[failure.stage]
        check_move(Move.retry, expected, expected)
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None or ticket.status != expected:
                return False
            changes: dict[str, Any] = {
                "last_error": failure.error,
                "retrying_since": ticket.retrying_since or now,
            }
            if failure.counts_as_attempt:
                changes["attempts"] = ticket.attempts + 1
            if failure.defer:
                changes["next_attempt_at"] = now + timedelta(seconds=failure.retry_in_s)
            self._move(ticket_id, Move.retry, expected, changes, now=now)
            self._audit(
                ticket_id, failure.stage, failure.event, failure.detail(), failure.attempt, at=now
            )
        return True

    def fail(
        self, ticket_id: str, stage: Stage, *, error: str, permanent: bool, attempt: int
    ) -> bool:
        """The stage's input state → failed (replayable); audit `failed`."""
        changes = fields.failed_fields(stage, error)
        with self._lock:
            expected = STAGE_INPUT_STATUS[stage]
            if not self._move(ticket_id, Move.fail, expected, changes, to=TicketStatus.failed):
                return False
            self._audit(
                ticket_id, stage, "failed", {"error": error, "permanent": permanent}, attempt
            )
        return True

    def record_delivery_attempt(self, delivery: DeliveryAttempt) -> None:
        """Count one more attempt of a delivery that did not succeed (pending or rejected)."""
        with self._lock:
            self._save_delivery(delivery)

    def mark_routed(self, routed: RoutedTicket, *, attempt: int) -> bool:
        """classified → routed, with its delivery record; audit `delivered`/`routing_recorded`."""
        changes = fields.routed_fields(routed)
        with self._lock:
            if not self._move(
                routed.ticket_id,
                Move.route,
                TicketStatus.classified,
                changes,
                to=TicketStatus.routed,
            ):
                return False
            self._save_delivery(routed.delivery_attempt())
            self._audit(routed.ticket_id, Stage.route, routed.event, routed.detail(), attempt)
        return True

    def close(self, ticket_id: str, *, attempt: int) -> Closed:
        """routed → done or needs_review (lifecycle.final_status); audit `closed`."""
        now = utcnow()
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            target = final_status(ticket.review_reason)
            if not self._move(
                ticket_id, Move.close, TicketStatus.routed, {"finished_at": now}, to=target, now=now
            ):
                return Closed(ticket_id, ticket.status, closed=False)
            ends = [
                (e.event, e.created_at)
                for e in self._trail(ticket_id)
                if e.event in STAGE_END_EVENTS
            ]
            detail = closing_detail(
                status=target.value,
                department=ticket.department,
                review_reason=ticket.review_reason,
                attempts=ticket.attempts,
                received_at=ticket.received_at,
                ends_by_event=ends,
                closed_at=now,
            )
            self._audit(ticket_id, Stage.audit, "closed", detail, attempt, at=now)
        return Closed(ticket_id, target.value, closed=True)

    def reopen(self, reopening: Reopening) -> bool:
        """A final ticket back before a stage (replay); audit `reopened`."""
        changes = fields.reopened_fields(reopening)
        to = STAGE_INPUT_STATUS[reopening.stage]
        with self._lock:
            if not self._move(
                reopening.ticket_id, Move.reopen, reopening.from_status, changes, to=to
            ):
                return False
            self._audit(reopening.ticket_id, reopening.stage, "reopened", reopening.detail())
        return True

    def correct(self, correction: CategoryCorrection) -> bool:
        """A person's category on a final ticket (→ classified if re-routed); audit `corrected`."""
        changes = fields.corrected_fields(correction)
        to = TicketStatus.classified if correction.rerouted else None
        with self._lock:
            if not self._move(
                correction.ticket_id, Move.correct, correction.from_status, changes, to=to
            ):
                return False
            self._audit(correction.ticket_id, Stage.classify, "corrected", correction.detail())
        return True

    def claim_overdue(self, *, sweep_after_s: float, limit: int = 500) -> list[OverdueTicket]:
        """Claim tickets stuck past the deadline or due a deferred attempt; audit `requeued`."""
        now = utcnow()
        deadline = now - timedelta(seconds=sweep_after_s)
        claimed: list[OverdueTicket] = []
        with self._lock:
            due = sorted(
                (t for t in self._tickets.values() if _overdue(t, deadline, now)),
                key=lambda t: t.updated_at,
            )[:limit]
            for ticket in due:
                status = TicketStatus(ticket.status)
                self._move(ticket.id, Move.requeue, status, {"next_attempt_at": None}, now=now)
                waited_s = round((now - ticket.updated_at).total_seconds(), 1)
                stage = NEXT_STAGE[status]
                self._audit(ticket.id, stage, "requeued", {"waited_s": waited_s}, at=now)
                claimed.append(OverdueTicket(ticket.id, stage, Queue(ticket.queue)))
        return claimed

    # --- test hook ----------------------------------------------------------------------------

    def overwrite_for_tests(self, ticket_id: str, **changes: Any) -> None:
        """Set ticket fields directly, bypassing the lifecycle (tests only)."""
        unknown = set(changes) - set(TicketRecord.model_fields) - {"stage_runs"}
        if unknown:
            raise ValueError(f"no ticket fields {sorted(unknown)}")
        with self._lock:
            ticket = self._get(ticket_id)
            self._put(ticket, {"updated_at": utcnow(), **changes})

    # --- inside the lock ----------------------------------------------------------------------

    def _move(
        self,
        ticket_id: str,
        move: Move,
        expected: TicketStatus,
        changes: Mapping[str, Any],
        *,
        to: TicketStatus | None = None,
        now: datetime | None = None,
    ) -> bool:
        """The guarded update: the lifecycle check first, then only while still `expected`."""
        check_move(move, expected, expected if to is None else to)
        ticket = self._tickets.get(ticket_id)
        if ticket is None or ticket.status != expected:
            return False
        update: dict[str, Any] = {"updated_at": now or utcnow()}
        if to is not None:  # a new stage starts with a clean retry record
            update |= {"status": to.value, "retrying_since": None, "next_attempt_at": None}
        self._put(ticket, update | dict(changes))
        return True

    def _put(self, ticket: TicketRecord, changes: Mapping[str, Any]) -> None:
        known = {k: v for k, v in changes.items() if k in TicketRecord.model_fields}
        self._tickets[ticket.id] = ticket.model_copy(update=known)


def _overdue(ticket: TicketRecord, deadline: datetime, now: datetime) -> bool:
    if ticket.status not in NEXT_STAGE:
        return False
    if ticket.next_attempt_at is None:
        return ticket.updated_at < deadline
    return ticket.next_attempt_at <= now
