"""The stage tasks called directly (eagerly): retry policy, permanent failures, thin plumbing."""

from __future__ import annotations

from unittest import mock

import pytest
from celery import Celery

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import LLMRejected, LLMUnavailable
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services
from tests.conftest import decision, submit
from tests.support.tickets import force
from workers.celery_app import create_celery_app


@pytest.fixture
def app(services: Services) -> Celery:
    return create_celery_app(services.settings, services=services)


def run(app: Celery, name: str, ticket_id: str) -> object:
    return app.tasks[name].apply(args=(ticket_id,))


def test_chain_of_tasks_finishes_the_ticket(
    app: Celery, store: TicketStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store, subject="shipping delay")
    results = [run(app, f"triage.{s}", ticket_id).get() for s in ("classify", "route", "audit")]
    assert results == [
        f"classify {ticket_id}: classified as shipping",
        f"route {ticket_id}: routed to logistics",
        f"audit {ticket_id}: closed as done",
    ]
    assert store.get(ticket_id).status == "done"
    assert len(departments.received) == 1


def test_transient_classifier_error_is_retried_then_succeeds(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    classifier.script[:] = [LLMUnavailable("503"), LLMUnavailable("timeout")]
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.attempts, ticket.last_error) == ("classified", 2, None)
    events = [(e.event, e.attempt) for e in store.audit_trail(ticket_id)]
    assert events == [
        ("received", 0),
        ("attempt_failed", 1),
        ("attempt_failed", 2),
        ("classified", 3),
    ]


def test_exhausted_retries_fail_the_ticket_with_the_last_error(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    classifier.script[:] = [LLMUnavailable(f"503 #{i}") for i in range(10)]
    ticket_id = submit(store)
    result = run(app, "triage.classify", ticket_id)
    assert result.failed()
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.failed_stage) == ("failed", "classify")
    assert ticket.last_error == "LLMUnavailable: 503 #2"  # classify_max_retries=2 → 3 attempts
    assert len(classifier.seen) == 3


def test_permanent_error_fails_at_once_without_retry(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    classifier.script[:] = [LLMRejected("400 bad request")]
    ticket_id = submit(store)
    assert run(app, "triage.classify", ticket_id).failed()
    assert len(classifier.seen) == 1
    failed = store.audit_trail(ticket_id)[-1]
    assert (failed.event, failed.detail["permanent"]) == ("failed", True)


def test_department_4xx_fails_route_at_once(
    app: Celery, store: TicketStore, departments: InMemoryDepartmentClient
) -> None:
    departments.responses[:] = [404]
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    assert run(app, "triage.route", ticket_id).failed()
    assert store.get(ticket_id).status == "failed"
    assert len(departments.received) == 1


def test_department_5xx_is_retried(
    app: Celery, store: TicketStore, departments: InMemoryDepartmentClient
) -> None:
    departments.responses[:] = [503, 502]
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    run(app, "triage.route", ticket_id)
    assert store.get(ticket_id).status == "routed"
    assert len(departments.received) == 3


def test_unknown_ticket_is_dropped_not_retried(app: Celery) -> None:
    assert run(app, "triage.classify", "missing").get() == "classify missing: ticket not found"


def test_task_results_carry_no_ticket_text(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    classifier.default = decision("billing")
    ticket_id = submit(store, description="my secret address is 1 Elm Street")
    result = str(run(app, "triage.classify", ticket_id).get())
    assert "Elm Street" not in result


class BudgetSpent(LLMUnavailable):
    counts_as_attempt = False


def test_llm_down_falls_back_to_local_decision_and_review(
    settings: Settings,
    store: TicketStore,
    classifier: ScriptedClassifier,
    departments: InMemoryDepartmentClient,
) -> None:
    local = ScriptedClassifier(default=decision("refund", 0.99), name="local")
    classifier.script[:] = [LLMUnavailable("503")] * 3
    services = Services(
        settings=settings,
        store=store,
        routing=load_routing(settings.routing_file),
        departments=departments,
        classifier=classifier,
        local_classifier=local,
    )
    app = create_celery_app(settings, services=services)
    ticket_id = submit(store)
    for stage in ("classify", "route", "audit"):
        run(app, f"triage.{stage}", ticket_id)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.department) == (
        "needs_review",
        "refund",
        "review",
    )
    assert (
        ticket.review_reason is not None
        and "LLM unavailable after 3 attempts" in ticket.review_reason
    )
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    assert "LLM unavailable" in classified.detail["fallback"]


def test_llm_down_with_fallback_failed_fails_the_ticket(
    settings: Settings,
    store: TicketStore,
    classifier: ScriptedClassifier,
    departments: InMemoryDepartmentClient,
) -> None:
    settings = settings.model_copy(update={"llm_fallback": "failed"})
    local = ScriptedClassifier(default=decision("refund", 0.99), name="local")
    classifier.script[:] = [LLMUnavailable("503")] * 3
    services = Services(
        settings=settings,
        store=store,
        routing=load_routing(settings.routing_file),
        departments=departments,
        classifier=classifier,
        local_classifier=local,
    )
    ticket_id = submit(store)
    run(create_celery_app(settings, services=services), "triage.classify", ticket_id)
    assert store.get(ticket_id).status == "failed"
    assert local.seen == []


def test_budget_waits_do_not_use_up_retries(
    app: Celery, store: TicketStore, classifier: ScriptedClassifier
) -> None:
    budget = BudgetSpent("budget spent", retry_after=0.01)
    classifier.script[:] = [budget] * 6 + [LLMUnavailable("503")] * 2
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    assert store.get(ticket_id).status == "classified"  # 6 waits + 2 failures < 3 attempts each
    assert len(classifier.seen) == 9


def test_long_waits_are_deferred_to_the_store_not_the_broker(
    app: Celery, store: TicketStore, settings: Settings, departments: InMemoryDepartmentClient
) -> None:
    from pipeline.domain.errors import DepartmentUnavailable

    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    departments.responses[:] = [503]
    long_wait = DepartmentUnavailable("503", retry_after=settings.visibility_timeout)  # > half
    with mock.patch("workers.tasks.route_ticket", side_effect=long_wait):
        result = run(app, "triage.route", ticket_id).get()
    assert result == f"route {ticket_id}: deferred {settings.visibility_timeout}s"
    ticket = store.get(ticket_id)
    assert ticket.status == "classified" and ticket.next_attempt_at is not None
    assert (
        ticket.next_attempt_at - ticket.updated_at
    ).total_seconds() >= settings.visibility_timeout - 1
    assert store.audit_trail(ticket_id)[-1].detail["deferred"] is True


def test_route_gives_up_after_the_horizon(
    store: TicketStore, services: Services, departments: InMemoryDepartmentClient
) -> None:
    from datetime import timedelta

    from pipeline.store.schema import utcnow

    settings = services.settings.model_copy(
        update={"route_retry_horizon_s": 60, "route_max_retries": 100}
    )
    services.settings = settings
    app = create_celery_app(settings, services=services)
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    force(store, ticket_id, retrying_since=utcnow() - timedelta(seconds=61))
    departments.responses[:] = [503] * 5
    assert run(app, "triage.route", ticket_id).failed()
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.failed_stage) == ("failed", "route")
    assert len(departments.received) == 1


def test_open_circuit_waits_without_sending_or_using_retries(
    app: Celery, store: TicketStore, services: Services, departments: InMemoryDepartmentClient
) -> None:
    from pipeline.adapters.circuit import InMemoryCircuitBreaker

    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=0.05)
    services.__dict__["circuit_breaker"] = breaker
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    breaker.record_failure("finance")  # open before we try
    run(app, "triage.route", ticket_id)
    assert store.get(ticket_id).status == "routed"
    events = [e.event for e in store.audit_trail(ticket_id)]
    assert "waiting" in events and "attempt_failed" not in events
    assert len(departments.received) == 1


def test_a_message_that_keeps_killing_its_worker_is_failed(
    app: Celery, store: TicketStore, services: Services, classifier: ScriptedClassifier
) -> None:
    from pipeline.adapters.stage_runs import InMemoryStageRunCounter

    counter = InMemoryStageRunCounter()
    services.__dict__["stage_runs"] = counter
    ticket_id = submit(store)
    # Each of these runs died mid-way (the worker was killed): nothing cleared the count.
    for _ in range(services.settings.max_deliveries):
        counter.started(ticket_id, "classify")
    assert run(app, "triage.classify", ticket_id).failed()
    ticket = store.get(ticket_id)
    assert ticket.status == "failed" and "without finishing" in (ticket.last_error or "")
    assert classifier.seen == []


def test_finished_runs_do_not_count_towards_poison(
    app: Celery, store: TicketStore, services: Services, classifier: ScriptedClassifier
) -> None:
    classifier.script[:] = [LLMUnavailable("503")] * 2  # two clean failures, then success
    ticket_id = submit(store)
    run(app, "triage.classify", ticket_id)
    assert store.get(ticket_id).status == "classified"
    assert services.stage_runs.started(ticket_id, "classify") == 1  # nothing left over
