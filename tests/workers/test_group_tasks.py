"""triage.classify_group: a backfill group through classify, route and audit in one task."""

from __future__ import annotations

import pytest
from celery import Celery

from pipeline.backfill.pace import BackfillPace
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import LLMRejected
from pipeline.domain.lifecycle import Queue, TicketStatus
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services
from tests.conftest import submit
from tests.support.broker import drain_queue, purge_queues
from workers.celery_app import create_celery_app

FINAL = (TicketStatus.done, TicketStatus.needs_review)


@pytest.fixture
def app(services: Services) -> Celery:
    app = create_celery_app(services.settings, services=services)
    purge_queues(app, "live", "backfill")
    return app


def history(store: TicketStore, n: int, *, deliver: bool = False) -> list[str]:
    ids = [submit(store, subject=f"shipping {i}") for i in range(n)]
    for ticket_id in ids:
        store.overwrite_for_tests(ticket_id, queue=Queue.backfill.value, deliver=deliver)
    return ids


def test_a_group_ends_final_in_one_task_and_publishes_nothing(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    ids = history(store, 4)
    app.tasks["triage.classify"].apply(args=(ids[0],))  # classified alone meanwhile

    result = app.tasks["triage.classify_group"].apply(args=(ids,)).get()

    assert result.startswith("backfill group of 4: 3 classified, 4 routed, 4 closed;")
    assert len(classifier.seen) == 4  # one earlier single call + three in the group call
    assert all(store.get(i).status in FINAL for i in ids)
    assert drain_queue(app, "backfill") == []  # no route or audit task left to run
    trail = store.audit_trail(ids[1])
    assert [e.event for e in trail] == ["received", "classified", "routing_recorded", "closed"]
    assert trail[1].detail["grouped"] is True


def test_tickets_to_deliver_are_routed_one_by_one(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    ids = history(store, 2, deliver=True)
    app.tasks["triage.classify_group"].apply(args=(ids,)).get()
    routes = drain_queue(app, "backfill")
    assert sorted(m.args[0] for m in routes) == sorted(ids)
    assert {m.task for m in routes} == {"triage.route"}
    assert all(store.get(i).status == TicketStatus.classified for i in ids)


def test_a_group_that_fails_for_good_goes_ticket_by_ticket(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    ids = history(store, 3)
    classifier.script[:] = [LLMRejected("400")]
    result = app.tasks["triage.classify_group"].apply(args=(ids,)).get()
    assert result == "classify group: gave up, 3 sent to classify alone"
    singles = drain_queue(app, "backfill")
    assert sorted(m.args[0] for m in singles) == sorted(ids)
    assert {m.task for m in singles} == {"triage.classify"}
    assert all(store.get(i).status == "received" for i in ids)


def test_the_pace_setting_makes_groups_wait_for_their_tickets(
    app: Celery, services: Services, store: TicketStore
) -> None:
    waits: list[float] = []
    clock = [0.0]
    pace = BackfillPace(50, clock=lambda: clock[0], sleep=waits.append)
    services.__dict__["backfill_pace"] = pace  # the cached property, as the setting builds it
    ids = history(store, 300)
    for start in range(0, 300, 100):
        app.tasks["triage.classify_group"].apply(args=(ids[start : start + 100],)).get()
    # 50 tickets/s, a burst of 50: 300 tickets at once wait 1, 3 and 5 seconds' worth.
    assert waits == [1.0, 3.0, 5.0]


def test_the_pace_comes_from_the_setting(services: Services) -> None:
    assert services.backfill_pace.bucket is None  # default 0: no cap
    capped = Services(services.settings.model_copy(update={"backfill_max_rate": 200.0}))
    assert capped.backfill_pace.bucket is not None and capped.backfill_pace.bucket.rate == 200.0
