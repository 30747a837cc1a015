"""Audit events that are not a stage's attempt record attempt 0 (memory and SQLite alike).

A person's correction or replay and the sweeper's requeue are not retries: a reader of the
audit trail counting attempts must not see one in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pipeline.domain.changes import CategoryCorrection, Reopening
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.ports import TicketRepository
from pipeline.settings import Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.schema import utcnow
from pipeline.wiring import open_store
from tests.conftest import submit
from tests.support.tickets import force_status


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TicketRepository]:
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    sql = open_store(settings)
    yield sql
    sql.engine.dispose()


def last_event(repo: TicketRepository, ticket_id: str) -> tuple[str, int]:
    event = repo.audit_trail(ticket_id)[-1]
    return event.event, event.attempt


def test_a_reopening_is_not_an_attempt(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(repo, ticket_id, TicketStatus.failed, failed_stage="route", finished_at=utcnow())
    assert repo.reopen(Reopening.of(repo.get(ticket_id), Stage.route, "ops"))
    assert last_event(repo, ticket_id) == ("reopened", 0)


def test_a_correction_is_not_an_attempt(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(repo, ticket_id, TicketStatus.done, category="billing", department="finance")
    correction = CategoryCorrection(
        ticket_id, TicketStatus.done, "billing", "refund", "finance", False, 1, "ann"
    )
    assert repo.correct(correction)
    assert last_event(repo, ticket_id) == ("corrected", 0)


def test_a_sweepers_requeue_is_not_an_attempt(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(
        repo, ticket_id, TicketStatus.classified, updated_at=utcnow() - timedelta(minutes=10)
    )
    assert [c.ticket_id for c in repo.claim_overdue(sweep_after_s=60)] == [ticket_id]
    assert last_event(repo, ticket_id) == ("requeued", 0)
