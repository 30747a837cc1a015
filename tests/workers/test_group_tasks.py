"""triage.classify_group: classifies a group, then routes each ticket or classifies it alone."""

from __future__ import annotations

import pytest
from celery import Celery

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import LLMRejected
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services
from tests.conftest import submit
from tests.support.broker import drain_queue, purge_queues
from workers.celery_app import create_celery_app


@pytest.fixture
def app(services: Services) -> Celery:
    app = create_celery_app(services.settings, services=services)
    purge_queues(app, "live", "backfill")
    return app


def test_group_is_classified_in_one_call_then_routed(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    ids = [submit(store, subject=f"shipping {i}") for i in range(4)]
    done_before = ids[0]
    app.tasks["triage.classify"].apply(args=(done_before,))  # already classified: left alone

    result = app.tasks["triage.classify_group"].apply(args=(ids,)).get()

    assert result == "classify group: 3 classified, 0 left to classify alone, 1 already done"
    assert len(classifier.seen) == 4  # one earlier single call + three in the batch call
    assert all(store.get(i).status == "classified" for i in ids)
    routed = drain_queue(app, "backfill")
    assert sorted(m.args[0] for m in routed) == sorted(ids[1:])
    assert {m.task for m in routed} == {"triage.route"}
    trail = store.audit_trail(ids[1])
    assert trail[-1].detail["grouped"] is True


def test_a_group_that_fails_for_good_goes_ticket_by_ticket(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    ids = [submit(store, subject=f"s{i}") for i in range(3)]
    classifier.script[:] = [LLMRejected("400")]
    result = app.tasks["triage.classify_group"].apply(args=(ids,)).get()
    assert result == "classify group: gave up, 3 sent to classify alone"
    singles = drain_queue(app, "backfill")
    assert sorted(m.args[0] for m in singles) == sorted(ids)
    assert {m.task for m in singles} == {"triage.classify"}
    assert all(store.get(i).status == "received" for i in ids)
