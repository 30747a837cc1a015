"""The status screen's numbers come from the store (and Redis for queue depths)."""

from __future__ import annotations

from unittest import mock

import fakeredis

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.adapters.queue_depths import RedisQueueDepths
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected
from pipeline.domain.lifecycle import Stage
from pipeline.domain.routing import load_routing
from pipeline.operations.status_report import gather_status
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, submit
from triage_cli.status import render_status


def test_status_counts_timings_and_failures(
    store: TicketStore, classifier: ScriptedClassifier
) -> None:
    routing = load_routing(EXAMPLE_ROUTING)
    for i in range(3):
        ticket_id = submit(store, subject=f"t{i}")
        classify_ticket(store, classifier, ticket_id)
        route_ticket(
            store, routing, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.5
        )
        close_ticket(store, ticket_id)
    failed = submit(store, subject="f")
    fail_ticket(store, failed, Stage.classify, DeliveryRejected("department said 410"), attempt=1)
    submit(store, subject="waiting")
    fake = fakeredis.FakeRedis()
    fake.rpush("live", b"m1", b"m2")

    with mock.patch("pipeline.adapters.queue_depths.redis_client", return_value=fake):
        report = gather_status(store, RedisQueueDepths("redis://fake"))

    assert report.queue_depths == {"live": 2, "backfill": 0}
    assert report.statuses_last_hour == {"done": 3, "failed": 1, "received": 1}
    assert report.pending == {"received": 1}
    assert report.top_failures == [("DeliveryRejected: department said 410", 1)]
    assert {t.stage for t in report.stage_timings} == {"classify", "route", "audit", "total"}
    assert all(t.count == 3 for t in report.stage_timings)
    screen = render_status(report, 600)
    assert "live: 2" in screen and "done 3" in screen and "department said 410" in screen
