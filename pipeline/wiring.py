"""Build the adapters (store, classifier, routing, department client) from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from pipeline.adapters.circuit import build_circuit_breaker
from pipeline.adapters.http_delivery import HttpDepartmentClient
from pipeline.adapters.signatures import sign_webhook
from pipeline.adapters.stage_runs import build_stage_run_counter
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import RoutingTable, load_routing
from pipeline.ports import CircuitBreaker, Classifier, DepartmentClient, StageRunCounter
from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import ensure_schema
from pipeline.store.tickets import TicketStore

log = logging.getLogger(__name__)


def open_store(
    settings: Settings, *, migrate: bool = True, async_commit: bool | None = None
) -> TicketStore:
    """Connect to the configured database; migrate it if it is empty, refuse it if stale.

    `async_commit` (default: TRIAGE_ASYNC_COMMIT) is for backfill work only; see the setting.
    """
    asynchronous = settings.async_commit if async_commit is None else async_commit
    engine = create_store_engine(settings.database_url, async_commit=asynchronous)
    if migrate:
        ensure_schema(engine)
    return TicketStore(engine)


def build_classifier(settings: Settings, routing: RoutingTable, local: Classifier) -> Classifier:
    """The classifier `TRIAGE_CLASSIFIER` names (`auto`: Gemini with an API key, else local)."""
    choice = settings.effective_classifier()
    if choice is ClassifierChoice.local:
        return local
    if settings.gemini_key() is None and not settings.gemini_vertex_project:
        raise ConfigurationError(
            f"TRIAGE_CLASSIFIER={choice.value} needs GEMINI_API_KEY (or GOOGLE_API_KEY, or "
            "TRIAGE_GEMINI_VERTEX_PROJECT with TRIAGE_GEMINI_VERTEX_LOCATION)"
        )
    from pipeline.adapters.decision_cache import build_decision_cache
    from pipeline.adapters.llm_budget import build_budget
    from pipeline.classifiers.cascade import CascadeClassifier
    from pipeline.classifiers.gemini.classifier import GeminiClassifier

    gemini = GeminiClassifier(
        settings,
        routing.category_descriptions(),
        budget=build_budget(settings),
        cache=build_decision_cache(settings),
    )
    if choice is ClassifierChoice.gemini:
        return gemini
    return CascadeClassifier(local, gemini, settings.cascade_threshold)


@dataclass
class Services:
    """Everything a stage needs, built once per worker process."""

    settings: Settings
    store: TicketStore
    routing: RoutingTable
    departments: DepartmentClient
    _classifier: Classifier | None = field(default=None, repr=False)
    _local_classifier: Classifier | None = field(default=None, repr=False)

    @cached_property
    def circuit_breaker(self) -> CircuitBreaker:
        """Per-department breaker, shared through Redis when there is one."""
        return build_circuit_breaker(
            self.settings.shared_redis_url(),
            self.settings.circuit_threshold,
            self.settings.circuit_cooldown_s,
        )

    @cached_property
    def stage_runs(self) -> StageRunCounter:
        """Unfinished-run counter per (ticket, stage), for the poison-message guard."""
        return build_stage_run_counter(
            self.settings.shared_redis_url(), ttl_s=self.settings.visibility_timeout * 4
        )

    def sign_delivery(self, msg_id: str, body: bytes) -> dict[str, str]:
        """Standard Webhooks headers for an outbound delivery (none without a secret)."""
        secret = self.settings.delivery_signing_secret
        if secret is None:
            return {}
        return sign_webhook(secret.get_secret_value(), msg_id, body)

    @cached_property
    def local_classifier(self) -> Classifier:
        """The offline model: the classifier, or the LLM's fallback (loaded on first use)."""
        if self._local_classifier is not None:
            return self._local_classifier
        if self._classifier is not None:
            return self._classifier
        from pipeline.classifiers.local.classifier import load_local_classifier

        return load_local_classifier(self.settings.local_model)

    @cached_property
    def classifier(self) -> Classifier:
        """The configured classifier, built on first use (loading a model takes a moment)."""
        if self._classifier is not None:
            return self._classifier
        classifier = build_classifier(self.settings, self.routing, self.local_classifier)
        log.info("classifier ready: %s (%s)", classifier.name, classifier.model_version)
        return classifier


def build_services(settings: Settings) -> Services:
    """Open the store, load routing, and prepare the department client."""
    routing = load_routing(settings.routing_file)
    return Services(
        settings=settings,
        store=open_store(settings),
        routing=routing,
        departments=HttpDepartmentClient(settings.delivery_timeout_s),
    )
