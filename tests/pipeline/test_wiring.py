"""The composition root: adapters built from settings on first use, or the ones a test passes."""

from __future__ import annotations

from pipeline.adapters.circuit import InMemoryCircuitBreaker
from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.adapters.stage_runs import InMemoryStageRunCounter
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services, build_services
from tests.conftest import TEST_PEPPER, keyword_decision


def test_given_adapters_are_used_and_the_classifier_is_its_own_fallback(
    settings: Settings, store: TicketStore
) -> None:
    classifier = ScriptedClassifier(default=keyword_decision)
    departments = InMemoryDepartmentClient()
    breaker = InMemoryCircuitBreaker()
    services = Services(
        settings,
        store=store,
        departments=departments,
        classifier=classifier,
        circuit_breaker=breaker,
    )
    assert services.store is store and services.departments is departments
    assert services.classifier is classifier and services.local_classifier is classifier
    assert services.circuit_breaker is breaker


def test_a_given_local_classifier_is_the_fallback(settings: Settings, store: TicketStore) -> None:
    llm, local = (
        ScriptedClassifier(default=keyword_decision, name="llm"),
        ScriptedClassifier(default=keyword_decision, name="local"),
    )
    services = Services(settings, store=store, classifier=llm, local_classifier=local)
    assert (services.classifier, services.local_classifier) == (llm, local)


def test_without_a_shared_redis_the_adapters_are_per_process(settings: Settings) -> None:
    assert settings.shared_redis_url() is None  # the test settings use the memory transport
    services = build_services(settings)
    try:
        assert isinstance(services.circuit_breaker, InMemoryCircuitBreaker)
        assert isinstance(services.stage_runs, InMemoryStageRunCounter)
        assert services.routing.review_department == settings.review_department
        assert services.circuit_breaker is services.circuit_breaker  # built once
    finally:
        services.store.engine.dispose()


def test_the_api_adapters_share_the_store(settings: Settings, store: TicketStore) -> None:
    services = Services(settings, store=store)
    assert settings.api_key_pepper is not None
    assert settings.api_key_pepper.get_secret_value() == TEST_PEPPER
    assert services.key_verifier is services.key_verifier
    assert services.intake is services.intake
    assert list(services.state_collector.collect())  # gauges, even with no Redis
