"""The sweeper claims tickets stuck past their deadline, and deferred ones once due."""

from __future__ import annotations

from datetime import timedelta

from pipeline.domain.lifecycle import Stage
from pipeline.operations.sweeper import claim_overdue_tickets
from pipeline.store.schema import utcnow
from pipeline.store.tickets import TicketStore
from tests.conftest import submit


def age(store: TicketStore, ticket_id: str, seconds: float, **values: object) -> None:
    with store.transaction() as session:
        store.move(
            session,
            ticket_id,
            expected=None,
            values={"updated_at": utcnow() - timedelta(seconds=seconds), **values},
        )


def test_claims_stuck_tickets_once_per_deadline(any_store: TicketStore) -> None:
    stuck = submit(any_store, subject="a")
    fresh = submit(any_store, subject="b")
    routed = submit(any_store, subject="c")
    age(any_store, stuck, 120)
    age(any_store, routed, 120, status="routed")

    claimed = claim_overdue_tickets(any_store, sweep_after_s=60)

    assert {(c.ticket_id, c.stage) for c in claimed} == {
        (stuck, Stage.classify),
        (routed, Stage.audit),
    }
    assert fresh not in {c.ticket_id for c in claimed}
    assert claim_overdue_tickets(any_store, sweep_after_s=60) == []  # claimed: deadline reset
    assert any_store.audit_trail(stuck)[-1].event == "requeued"


def test_deferred_tickets_wait_for_their_next_attempt(any_store: TicketStore) -> None:
    later = submit(any_store, subject="a")
    due = submit(any_store, subject="b")
    age(any_store, later, 3600, status="classified", next_attempt_at=utcnow() + timedelta(hours=1))
    age(any_store, due, 0, status="classified", next_attempt_at=utcnow() - timedelta(seconds=1))

    claimed = claim_overdue_tickets(any_store, sweep_after_s=60)

    assert [(c.ticket_id, c.stage) for c in claimed] == [(due, Stage.route)]
    assert any_store.get(due).next_attempt_at is None


def test_final_tickets_are_never_claimed(any_store: TicketStore) -> None:
    for status in ("done", "needs_review", "failed"):
        age(any_store, submit(any_store, subject=status), 3600, status=status)
    assert claim_overdue_tickets(any_store, sweep_after_s=1) == []
