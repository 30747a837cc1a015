"""The audit details every store writes: built once here, read by people and scripts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.changes import (
    DeliveryStatus,
    FailedAttempt,
    Reopening,
    RoutedTicket,
    closing_detail,
    stage_durations_ms,
)
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.store.memory import InMemoryTicketRepository
from tests.conftest import submit
from tests.support.tickets import force_status

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_stage_times_run_from_one_stage_end_to_the_next() -> None:
    ends = [("fetched", at(5)), ("classified", at(100)), ("delivered", at(350))]
    assert stage_durations_ms(T0, ends, at(400)) == {
        "classify": 100.0,
        "route": 250.0,
        "audit": 50.0,
        "total": 400.0,
    }


def test_a_replayed_stage_counts_its_last_success() -> None:
    ends = [
        ("classified", at(100)),
        ("delivered", at(200)),
        ("classified", at(1000)),
        ("routing_recorded", at(1500)),
    ]
    assert stage_durations_ms(T0, ends, at(1600)) == {
        "classify": 1000.0,
        "route": 500.0,
        "audit": 100.0,
        "total": 1600.0,
    }


def test_a_missing_stage_is_left_out_and_the_next_runs_from_the_last_known_end() -> None:
    durations = stage_durations_ms(T0, [("delivered", at(300))], at(301.234))
    assert durations == {"route": 300.0, "audit": 1.23, "total": 301.23}
    assert stage_durations_ms(T0, [], at(7)) == {"audit": 7.0, "total": 7.0}


def test_the_closing_detail() -> None:
    detail = closing_detail(
        status="needs_review",
        department="review",
        review_reason="unsure",
        attempts=3,
        received_at=T0,
        ends_by_event=[("classified", at(10))],
        closed_at=at(30),
    )
    assert detail == {
        "status": "needs_review",
        "department": "review",
        "review_reason": "unsure",
        "attempts": 3,
        "stage_ms": {"classify": 10.0, "audit": 20.0, "total": 30.0},
    }


def test_a_failed_attempt_and_a_wait() -> None:
    failed = FailedAttempt(Stage.route, "503", retry_in_s=1.26, attempt=2)
    assert failed.event == "attempt_failed"
    assert failed.detail() == {"error": "503", "retry_in_s": 1.3, "deferred": False}
    wait = FailedAttempt(Stage.classify, "budget", 90, 1, counts_as_attempt=False, defer=True)
    assert wait.event == "waiting"
    assert wait.detail() == {"error": "budget", "retry_in_s": 90, "deferred": True}


def test_a_routing_event_and_its_delivery_record() -> None:
    routed = RoutedTicket(
        "t",
        2,
        "finance",
        "http://x/f",
        False,
        "why",
        DeliveryStatus.delivered,
        response_status=202,
        latency_ms=12.3456,
        written_back=("zendesk",),
    )
    assert routed.event == "delivered"
    assert routed.detail() == {
        "department": "finance",
        "destination": "http://x/f",
        "needs_review": False,
        "reason": "why",
        "generation": 2,
        "response_status": 202,
        "latency_ms": 12.35,
        "written_back": ["zendesk"],
    }
    record = routed.delivery_attempt()
    assert (record.ticket_id, record.department, record.generation, record.endpoint) == (
        "t",
        "finance",
        2,
        "http://x/f",
    )
    assert (record.status, record.response_status, record.target) == (
        DeliveryStatus.delivered,
        202,
        "http",
    )
    recorded = RoutedTicket("t", 1, "review", None, True, "unsure", DeliveryStatus.recorded)
    assert recorded.event == "routing_recorded"
    assert recorded.detail()["latency_ms"] is None
    written = RoutedTicket(
        "t", 1, "f", None, False, "r", DeliveryStatus.recorded, written_back=("jira",)
    )
    assert written.event == "delivered"  # a write-back is a delivery too


def test_a_reopening_opens_a_generation_only_when_a_delivery_may_repeat() -> None:
    store = InMemoryTicketRepository()
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.failed, generation=4)
    ticket = store.get(ticket_id)
    for stage, generation, clear in (
        (Stage.classify, 5, True),
        (Stage.route, 5, False),
        (Stage.audit, 4, False),
    ):
        reopening = Reopening.of(ticket, stage, "ops")
        assert (reopening.generation, reopening.clear_review_reason) == (generation, clear)
        assert reopening.from_status is TicketStatus.failed and reopening.stage is stage
        assert reopening.detail() == {
            "from_status": "failed",
            "by": "ops",
            "generation": generation,
        }


def test_an_idempotency_conflict_names_the_earlier_ticket() -> None:
    from pipeline.domain.changes import IdempotencyConflict

    conflict = IdempotencyConflict("t-9")
    assert conflict.ticket_id == "t-9"
    assert str(conflict) == "idempotency key already used for ticket t-9 with another body"
