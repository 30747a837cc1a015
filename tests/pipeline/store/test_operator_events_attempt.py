"""Events no stage attempt caused are audited as attempt 0, in memory and on SQLite alike.

A reader of `GET /tickets/{id}/logs` counts a stage's tries from the events' `attempt`; the
sweeper's claim, an operator's replay and a person's correction are not tries of any stage,
so they must not show up as attempt 1 next to the stage's real first attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pipeline.domain.changes import CategoryCorrection, Reopening
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.settings import Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.schema import utcnow
from pipeline.wiring import open_store
from tests.conftest import submit
from tests.support.tickets import AnyStore, force_status


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, settings: Settings) -> Iterator[AnyStore]:
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    sql = open_store(settings)
    yield sql
    sql.engine.dispose()


def last_event(repo: AnyStore, ticket_id: str) -> tuple[str, int]:
    event = repo.audit_trail(ticket_id)[-1]
    return event.event, event.attempt


def test_a_sweeper_claim_is_no_attempt(repo: AnyStore) -> None:
    ticket_id = submit(repo)
    long_ago = utcnow() - timedelta(minutes=10)
    force_status(repo, ticket_id, TicketStatus.classified, updated_at=long_ago)
    assert [c.ticket_id for c in repo.claim_overdue(sweep_after_s=60)] == [ticket_id]
    assert last_event(repo, ticket_id) == ("requeued", 0)


def test_a_replay_is_no_attempt(repo: AnyStore) -> None:
    ticket_id = submit(repo)
    force_status(
        repo, ticket_id, TicketStatus.failed, failed_stage="route", attempts=3, generation=1
    )
    assert repo.reopen(Reopening.of(repo.get(ticket_id), Stage.route, "ops"))
    assert last_event(repo, ticket_id) == ("reopened", 0)


def test_a_correction_is_no_attempt(repo: AnyStore) -> None:
    ticket_id = submit(repo)
    force_status(repo, ticket_id, TicketStatus.done, category="billing", department="finance")
    correction = CategoryCorrection(
        ticket_id, TicketStatus.done, "billing", "refund", "finance", False, 1, "ann"
    )
    assert repo.correct(correction)
    assert last_event(repo, ticket_id) == ("corrected", 0)


def test_a_stage_attempt_is_recorded_as_given(repo: AnyStore) -> None:
    ticket_id = submit(repo)
    assert repo.fail(ticket_id, Stage.classify, error="bad", permanent=True, attempt=1)
    assert last_event(repo, ticket_id) == ("failed", 1)
