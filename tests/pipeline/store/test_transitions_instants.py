"""The SQL store's state changes on one instant, its sweeper's bounds and its guards.

A change and the audit event that explains it carry the same time (a person reading the trail
next to the ticket sees one moment, and the sweeper's deadline is measured from it); the
sweeper claims what is due at its boundaries, oldest first, at most 500 at a time, skipping
rows another sweeper holds; a replay or a correction never restarts a ticket still running.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import Select

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.changes import CategoryCorrection, FailedAttempt, Reopening
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import IllegalMove, Stage, TicketStatus
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from pipeline.store import transitions
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import EXAMPLE_ROUTING, decision, submit
from tests.support.tickets import force, force_status

ROUTING = load_routing(EXAMPLE_ROUTING)


@pytest.fixture
def sql(settings: Settings) -> Iterator[TicketStore]:
    store = open_store(settings)
    assert isinstance(store, TicketStore)
    yield store
    store.engine.dispose()


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The store's clock, stopped at one instant (later than anything stored before)."""
    instant = datetime.now(UTC).replace(microsecond=250_000) + timedelta(seconds=5)
    monkeypatch.setattr(transitions, "utcnow", lambda: instant)
    return instant


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; they are stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def routed(store: TicketStore) -> str:
    ticket_id = submit(store, subject="Refund please")
    classify_ticket(store, ScriptedClassifier(default=decision("refund", 0.9)), ticket_id)
    route_ticket(store, ROUTING, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.55)
    return ticket_id


def test_a_sweep_claims_at_its_boundaries_on_one_instant(sql: TicketStore) -> None:
    instant = datetime.now(UTC).replace(microsecond=250_000)
    stuck = submit(sql, external_id="stuck")
    edge = submit(sql, external_id="edge")
    due = submit(sql, external_id="due")
    force_status(sql, stuck, TicketStatus.classified, updated_at=instant - timedelta(seconds=61.37))
    force(sql, edge, updated_at=instant - timedelta(seconds=60))  # exactly at the deadline
    force(sql, due, next_attempt_at=instant)  # due exactly now
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transitions, "utcnow", lambda: instant)
        claimed = sql.claim_overdue(sweep_after_s=60)
    assert {c.ticket_id for c in claimed} == {stuck, due}  # the edge is not overdue yet
    requeued = sql.audit_trail(stuck)[-1]
    assert (requeued.event, requeued.detail) == ("requeued", {"waited_s": 61.4})
    assert aware(requeued.created_at) == instant
    assert aware(sql.get(stuck).updated_at) == instant  # the next deadline counts from here
    assert aware(sql.get(due).updated_at) == instant


def test_a_limited_sweep_takes_the_longest_waiting_first(sql: TicketStore) -> None:
    ago = datetime.now(UTC) - timedelta(minutes=5)
    newest, middle, oldest = (submit(sql, external_id=name) for name in ("n", "m", "o"))
    for ticket_id, minutes in ((newest, 1), (middle, 2), (oldest, 3)):
        force(sql, ticket_id, updated_at=ago - timedelta(minutes=minutes))
    claimed = sql.claim_overdue(sweep_after_s=60, limit=2)
    assert [c.ticket_id for c in claimed] == [oldest, middle]


def _statements(store: TicketStore) -> list[Any]:
    seen: list[Any] = []

    def record(conn: Any, clause: Any, *args: Any) -> None:
        seen.append(clause)

    event.listen(store.engine, "before_execute", record)
    return seen


def test_the_sweep_skips_what_another_sweeper_holds_and_takes_500(sql: TicketStore) -> None:
    # SQLite has no row locks, so only the statement sent to PostgreSQL can show this.
    seen = _statements(sql)
    sql.claim_overdue(sweep_after_s=60)
    selects = [s for s in seen if isinstance(s, Select) and s._for_update_arg is not None]
    assert len(selects) == 1
    compiled = selects[0].compile(dialect=postgresql.dialect())
    text = str(compiled)
    assert text.rstrip().endswith("FOR UPDATE SKIP LOCKED")
    assert "ORDER BY tickets.updated_at" in text
    assert 500 in compiled.params.values()


def test_closing_reads_the_stage_ends_in_trail_order(sql: TicketStore) -> None:
    # A replayed ticket's last success of a stage counts: the order must be asked for.
    ticket_id = routed(sql)
    seen = _statements(sql)
    sql.close(ticket_id, attempt=1)
    trail_reads = [
        str(s.compile(dialect=postgresql.dialect()))
        for s in seen
        if isinstance(s, Select) and "audit_events" in str(s)
    ]
    assert any("ORDER BY audit_events.id" in text for text in trail_reads)


def test_a_failed_attempt_is_stamped_with_one_instant(sql: TicketStore, now: datetime) -> None:
    ticket_id = submit(sql)
    failure = FailedAttempt(Stage.classify, "LLM 503", retry_in_s=30, attempt=1, defer=True)
    assert sql.record_attempt(ticket_id, failure)
    ticket = sql.get(ticket_id)
    assert aware(ticket.updated_at) == now
    assert aware(ticket.retrying_since) == now
    assert aware(ticket.next_attempt_at) == now + timedelta(seconds=30)
    assert aware(sql.audit_trail(ticket_id)[-1].created_at) == now


def test_closing_is_stamped_with_one_instant_and_names_its_ticket(sql: TicketStore) -> None:
    ticket_id = routed(sql)
    instant = datetime.now(UTC).replace(microsecond=250_000) + timedelta(seconds=5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transitions, "utcnow", lambda: instant)
        closed = sql.close(ticket_id, attempt=1)
        again = sql.close(ticket_id, attempt=2)
    assert (closed.ticket_id, closed.closed) == (ticket_id, True)
    assert (again.ticket_id, again.closed) == (ticket_id, False)
    ticket = sql.get(ticket_id)
    assert aware(ticket.updated_at) == aware(ticket.finished_at) == instant
    assert aware(sql.audit_trail(ticket_id)[-1].created_at) == instant


def test_closing_an_unknown_ticket_names_it(sql: TicketStore) -> None:
    with pytest.raises(TicketNotFound, match="no ticket nope-123"):
        sql.close("nope-123", attempt=1)


def test_stage_times_come_from_the_closed_tickets_own_trail(sql: TicketStore) -> None:
    first = routed(sql)
    second = routed(sql)  # routed later: its events must not count for the first
    closed = sql.close(first, attempt=1)
    assert closed.closed
    trail = {e.event: aware(e.created_at) for e in sql.audit_trail(first)}
    stage_ms = sql.audit_trail(first)[-1].detail["stage_ms"]
    routed_at = trail.get("delivered") or trail.get("routing_recorded")
    classified_at = trail["classified"]
    assert routed_at is not None and classified_at is not None
    expected = round((routed_at - classified_at).total_seconds() * 1000, 2)
    assert stage_ms["route"] == expected
    assert sql.get(second).status == "routed"


def test_a_replay_cannot_restart_a_ticket_still_running(sql: TicketStore) -> None:
    ticket_id = submit(sql)  # received: still in the pipeline
    reopening = Reopening(ticket_id, TicketStatus.received, Stage.classify, 2, True, "ops")
    with pytest.raises(IllegalMove):
        sql.reopen(reopening)
    assert sql.get(ticket_id).generation == 1
    assert [e.event for e in sql.audit_trail(ticket_id)] == ["received"]


def test_a_correction_cannot_touch_a_ticket_still_running(sql: TicketStore) -> None:
    ticket_id = submit(sql)
    correction = CategoryCorrection(
        ticket_id, TicketStatus.received, None, "refund", "finance", False, 1, "ann"
    )
    with pytest.raises(IllegalMove):
        sql.correct(correction)
    assert sql.get(ticket_id).category is None


def test_a_correction_records_the_person_and_why(sql: TicketStore) -> None:
    ticket_id = submit(sql)
    force_status(sql, ticket_id, TicketStatus.done, category="billing", department="finance")
    actor = "a" * 200
    correction = CategoryCorrection(
        ticket_id, TicketStatus.done, "billing", "refund", "finance", False, 1, actor
    )
    assert sql.correct(correction)
    ticket = sql.get(ticket_id)
    assert ticket.model == "a" * 128  # the column holds 128: the name is cut, not refused
    assert ticket.reason == "category set by a person"


def test_a_classify_replay_clears_the_review_reason(sql: TicketStore) -> None:
    ticket_id = submit(sql)
    force_status(sql, ticket_id, TicketStatus.needs_review, review_reason="unsure")
    reopening = Reopening.of(sql.get(ticket_id), Stage.classify, "ops")
    assert sql.reopen(reopening)
    assert sql.get(ticket_id).review_reason is None
