"""The sweeper claims tickets stuck past their deadline, and deferred ones once due."""

from __future__ import annotations

from datetime import timedelta

from pipeline.domain.lifecycle import Stage
from pipeline.operations.sweeper import claim_overdue_tickets
from pipeline.store.schema import utcnow
from tests.conftest import submit
from tests.support.tickets import AnyStore, force


def age(store: AnyStore, ticket_id: str, seconds: float, **values: object) -> None:
    force(store, ticket_id, **values, updated_at=utcnow() - timedelta(seconds=seconds))


def test_claims_stuck_tickets_once_per_deadline(every_store: AnyStore) -> None:
    stuck = submit(every_store, subject="a")
    fresh = submit(every_store, subject="b")
    routed = submit(every_store, subject="c")
    age(every_store, stuck, 120)
    age(every_store, routed, 120, status="routed")

    claimed = claim_overdue_tickets(every_store, sweep_after_s=60)

    assert {(c.ticket_id, c.stage) for c in claimed} == {
        (stuck, Stage.classify),
        (routed, Stage.audit),
    }
    assert fresh not in {c.ticket_id for c in claimed}
    assert claim_overdue_tickets(every_store, sweep_after_s=60) == []  # claimed: deadline reset
    assert every_store.audit_trail(stuck)[-1].event == "requeued"


def test_deferred_tickets_wait_for_their_next_attempt(every_store: AnyStore) -> None:
    later = submit(every_store, subject="a")
    due = submit(every_store, subject="b")
    age(
        every_store, later, 3600, status="classified", next_attempt_at=utcnow() + timedelta(hours=1)
    )
    age(every_store, due, 0, status="classified", next_attempt_at=utcnow() - timedelta(seconds=1))

    claimed = claim_overdue_tickets(every_store, sweep_after_s=60)

    assert [(c.ticket_id, c.stage) for c in claimed] == [(due, Stage.route)]
    assert every_store.get(due).next_attempt_at is None


def test_final_tickets_are_never_claimed(every_store: AnyStore) -> None:
    for status in ("done", "needs_review", "failed"):
        age(every_store, submit(every_store, subject=status), 3600, status=status)
    assert claim_overdue_tickets(every_store, sweep_after_s=1) == []
