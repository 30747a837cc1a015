"""The status screen's numbers come from the store (and Redis for queue depths and circuits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import fakeredis
import pytest

from pipeline.adapters.circuit import InMemoryCircuitBreaker, RedisCircuitBreaker
from pipeline.adapters.queue_depths import FixedQueueDepths, RedisQueueDepths
from pipeline.operations.status_report import gather_status
from pipeline.store.tickets import TicketStore
from tests.support.statuses import REFUSED, populate

NO_QUEUES = FixedQueueDepths({})


def test_counts_are_current_statuses_and_last_hour_activity(any_store: TicketStore) -> None:
    populate(any_store)
    fake = fakeredis.FakeRedis()
    fake.rpush("live", b"m1", b"m2")

    with mock.patch("pipeline.adapters.queue_depths.redis_client", return_value=fake):
        report = gather_status(any_store, RedisQueueDepths("redis://fake"))

    assert report.queue_depths == {"live": 2, "backfill": 0}
    assert report.statuses == {
        "received": 1,
        "classified": 3,
        "routed": 0,
        "done": 3,
        "needs_review": 0,
        "failed": 1,
    }
    assert report.pending == {"received": 1, "classified": 3}
    assert report.received_last_hour == 8
    assert report.finished_last_hour == {"done": 3, "needs_review": 0, "failed": 1}
    assert report.top_failures == [("DeliveryRejected: department said 410", 1)]
    assert {t.stage for t in report.stage_timings} == {"classify", "route", "audit", "total"}
    assert all(t.count == 3 for t in report.stage_timings)


def test_an_hour_later_nothing_is_recent_but_statuses_are_still_current(
    any_store: TicketStore,
) -> None:
    populate(any_store)

    report = gather_status(any_store, NO_QUEUES, now=datetime.now(UTC) + timedelta(hours=2))

    assert report.statuses["done"] == 3 and report.statuses["classified"] == 3
    assert report.received_last_hour == 0
    assert report.finished_last_hour == {"done": 0, "needs_review": 0, "failed": 0}
    assert report.stage_timings == []


def test_retrying_tickets_are_grouped_by_error_with_their_next_attempt(
    any_store: TicketStore,
) -> None:
    made = populate(any_store)
    before = datetime.now(UTC)

    report = gather_status(any_store, NO_QUEUES)

    assert report.retrying_total == 3
    refused, unavailable = report.retrying
    assert (refused.error, refused.tickets) == (f"DepartmentUnavailable: {REFUSED}", 2)
    assert refused.example_id in made.deferred
    assert refused.next_attempt_at is not None
    assert timedelta(minutes=9) < refused.next_attempt_at - before < timedelta(minutes=11)
    assert refused.retrying_since is not None and refused.retrying_since <= before
    # A Celery countdown is not in the store: no next attempt to show, but it is retrying.
    assert (unavailable.error, unavailable.tickets) == ("DepartmentUnavailable: 503", 1)
    assert (unavailable.next_attempt_at, unavailable.example_id) == (None, made.countdown)


def test_open_circuits_come_from_the_breaker() -> None:
    store = mock.Mock()
    store.reports.retrying.return_value.total = 0
    store.reports.retrying.return_value.groups = []
    store.reports.llm_spend_since.return_value = 0.0
    store.reports.status_figures.return_value = mock.Mock(
        statuses={}, received_since=0, finished_since={}, top_failures=[], recent_events=[]
    )
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=60)
    breaker.record_failure("finance")

    report = gather_status(store, NO_QUEUES, breaker)

    assert report.open_circuits is not None and set(report.open_circuits) == {"finance"}
    assert 0 < report.open_circuits["finance"] <= 60
    assert report.circuits_error is None
    assert gather_status(store, NO_QUEUES).open_circuits is None  # not asked: unknown


@pytest.mark.parametrize("error", [ConnectionError, TimeoutError])
def test_a_breaker_that_cannot_answer_makes_circuits_unknown_not_none(
    store: TicketStore, error: type[Exception]
) -> None:
    broken = RedisCircuitBreaker(fakeredis.FakeRedis())
    with mock.patch.object(broken, "open_circuits", side_effect=error("down")):
        report = gather_status(store, NO_QUEUES, broken)

    assert (report.open_circuits, report.circuits_error) == (None, error.__name__)


def test_llm_use_counts_every_provider_and_the_cascades_calls(any_store: TicketStore) -> None:
    from pipeline.adapters.decision_cache import InMemoryDecisionCache
    from pipeline.classifiers.cascade import CascadeClassifier
    from pipeline.classifiers.llm import LLMClassifier
    from pipeline.classifiers.scripted import ScriptedClassifier, ScriptedTransport
    from pipeline.domain.classification import Classification
    from pipeline.stages.classify import classify_ticket
    from pipeline.testing.gemini_responses import classification_json
    from tests.support.statuses import submit

    class Grant:
        def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
            return 0.0

        def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
            return None

    categories = {"billing": "charges", "shipping": "parcels"}
    transport = ScriptedTransport(default=classification_json("billing"))
    llm = LLMClassifier(
        transport, categories, model="m-1", budget=Grant(), cache=InMemoryDecisionCache(0)
    )
    unsure = Classification(category="shipping", confidence=0.2, classifier="local", model="l")
    cascade = CascadeClassifier(ScriptedClassifier(default=unsure), llm, threshold=0.9)
    local_only = ScriptedClassifier(default=unsure)

    classify_ticket(any_store, llm, submit(any_store, subject="direct"))
    classify_ticket(any_store, cascade, submit(any_store, subject="cascaded"))
    classify_ticket(any_store, local_only, submit(any_store, subject="local"))

    report = gather_status(any_store, NO_QUEUES)
    assert report.llm_requests_last_hour == 2  # the direct call and the cascade's, not the local
