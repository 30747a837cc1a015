"""The one composition root: every adapter the API, the workers and the CLI use, from settings.

Each process builds one `Services` from its settings (read when the process starts) and
asks it for what it needs; a test passes its own adapters to the constructor instead.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from pipeline.adapters.circuit import build_circuit_breaker
from pipeline.adapters.http_delivery import HttpDepartmentClient
from pipeline.adapters.signatures import sign_webhook
from pipeline.adapters.stage_runs import build_stage_run_counter
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import RoutingTable, load_routing
from pipeline.operations.api_keys import KeyVerifier
from pipeline.ports import (
    CircuitBreaker,
    Classifier,
    DepartmentClient,
    HealthProbes,
    QueueDepths,
    RateLimiter,
    SchemaState,
    StageRunCounter,
)
from pipeline.settings import PROVIDER_KEY_NAMES, ClassifierChoice, Settings
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import ensure_schema
from pipeline.store.tickets import TicketStore

if TYPE_CHECKING:
    from pipeline.store.group_commit import GroupCommitIntake
    from pipeline.telemetry.metrics import PipelineStateCollector

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


def build_queue_depths(settings: Settings) -> QueueDepths:
    """Queue lengths from the Redis broker, or unknown for any other broker."""
    from pipeline.adapters.queue_depths import RedisQueueDepths, UnknownQueueDepths

    # The broker's own lists: a separate TRIAGE_REDIS_URL holds counters, not the queues.
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisQueueDepths(settings.broker_url)
    return UnknownQueueDepths()


def llm_key_problem(settings: Settings) -> str | None:
    """What an LLM classifier lacks to call its provider (None: nothing, or no LLM is used)."""
    provider = settings.llm_provider()
    if provider is None or settings.has_credentials(provider):
        return None
    choice = settings.effective_classifier().value
    if provider is ClassifierChoice.gemini:
        return (
            f"TRIAGE_CLASSIFIER={choice} needs GEMINI_API_KEY (or GOOGLE_API_KEY, or "
            "TRIAGE_GEMINI_VERTEX_PROJECT with TRIAGE_GEMINI_VERTEX_LOCATION)"
        )
    names = " or ".join(PROVIDER_KEY_NAMES[provider])
    return f"TRIAGE_CLASSIFIER={choice} needs {names} (the {provider.value} provider's key)"


def build_llm_classifier(settings: Settings, routing: RoutingTable) -> Classifier:
    """The LLM provider's classifier, with the shared budget and decision cache."""
    from pipeline.adapters.decision_cache import build_decision_cache
    from pipeline.adapters.llm_budget import build_budget

    categories = routing.category_descriptions()
    budget, cache = build_budget(settings), build_decision_cache(settings)
    provider = settings.llm_provider()
    if provider is ClassifierChoice.openai:
        from pipeline.classifiers.openai import build_openai_classifier

        return build_openai_classifier(settings, categories, budget=budget, cache=cache)
    if provider is ClassifierChoice.anthropic:
        from pipeline.classifiers.anthropic import build_anthropic_classifier

        return build_anthropic_classifier(settings, categories, budget=budget, cache=cache)
    from pipeline.classifiers.gemini.classifier import GeminiClassifier

    return GeminiClassifier(settings, categories, budget=budget, cache=cache)


def build_classifier(settings: Settings, routing: RoutingTable, local: Classifier) -> Classifier:
    """The classifier `TRIAGE_CLASSIFIER` names (`auto`: the first keyed provider, else local)."""
    choice = settings.effective_classifier()
    if choice is ClassifierChoice.local:
        return local
    problem = llm_key_problem(settings)
    if problem is not None:
        raise ConfigurationError(problem)
    llm = build_llm_classifier(settings, routing)
    if choice is not ClassifierChoice.cascade:
        return llm
    from pipeline.classifiers.cascade import CascadeClassifier

    return CascadeClassifier(local, llm, settings.cascade_threshold)


class Services:
    """Every adapter of one process, each built from settings on first use.

    Pass an adapter to the constructor to use it instead (tests, the embedded demo); a
    `classifier` given without a `local_classifier` also serves as the LLM's fallback.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: TicketStore | None = None,
        routing: RoutingTable | None = None,
        departments: DepartmentClient | None = None,
        classifier: Classifier | None = None,
        local_classifier: Classifier | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        stage_runs: StageRunCounter | None = None,
    ) -> None:
        self.settings = settings
        self._given_store = store
        self._given_routing = routing
        self._given_departments = departments
        self._given_classifier = classifier
        self._given_local_classifier = classifier if local_classifier is None else local_classifier
        self._given_circuit_breaker = circuit_breaker
        self._given_stage_runs = stage_runs

    @cached_property
    def store(self) -> TicketStore:
        """The ticket store (migrated if empty, refused if stale)."""
        given = self._given_store
        return open_store(self.settings) if given is None else given

    @cached_property
    def routing(self) -> RoutingTable:
        """Categories, departments and their endpoints."""
        given = self._given_routing
        return load_routing(self.settings.routing_file) if given is None else given

    @cached_property
    def departments(self) -> DepartmentClient:
        """Delivers routed tickets to department endpoints."""
        given = self._given_departments
        return HttpDepartmentClient(self.settings.delivery_timeout_s) if given is None else given

    @cached_property
    def circuit_breaker(self) -> CircuitBreaker:
        """Per-department breaker, shared through Redis when there is one."""
        if self._given_circuit_breaker is not None:
            return self._given_circuit_breaker
        return build_circuit_breaker(
            self.settings.shared_redis_url(),
            self.settings.circuit_threshold,
            self.settings.circuit_cooldown_s,
        )

    @cached_property
    def stage_runs(self) -> StageRunCounter:
        """Unfinished-run counter per (ticket, stage), for the poison-message guard."""
        if self._given_stage_runs is not None:
            return self._given_stage_runs
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
        if self._given_local_classifier is not None:
            return self._given_local_classifier
        from pipeline.classifiers.local.classifier import load_local_classifier

        return load_local_classifier(self.settings.local_model)

    @cached_property
    def classifier(self) -> Classifier:
        """The configured classifier, built on first use (loading a model takes a moment)."""
        if self._given_classifier is not None:
            return self._given_classifier
        classifier = build_classifier(self.settings, self.routing, self.local_classifier)
        log.info("classifier ready: %s (%s)", classifier.name, classifier.model_version)
        return classifier

    # --- the API's adapters ------------------------------------------------------------------

    @cached_property
    def intake(self) -> GroupCommitIntake:
        """Concurrent submissions committed together (group commit)."""
        from pipeline.store.group_commit import GroupCommitIntake  # metrics: see below

        return GroupCommitIntake(self.store, max_batch=self.settings.ingest_commit_batch)

    @cached_property
    def key_verifier(self) -> KeyVerifier:
        """API keys checked against their HMAC in the store (needs TRIAGE_API_KEY_PEPPER)."""
        pepper = self.settings.api_key_pepper
        if pepper is None:
            raise ConfigurationError("TRIAGE_API_KEY_PEPPER is not set")
        return KeyVerifier(
            self.store, pepper.get_secret_value().encode(), self.settings.api_key_cache_s
        )

    @cached_property
    def state_collector(self) -> PipelineStateCollector:
        """Scrape-time gauges: queue depths and tickets by status."""
        # Imported on use: metric objects must be created after the CLI has pointed
        # prometheus_client at its multiprocess directory, not when wiring is imported.
        from pipeline.telemetry.metrics import PipelineStateCollector

        return PipelineStateCollector(self.store, self.queue_depths)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Per-key request limits, shared by every API process through Redis when there is one."""
        from pipeline.adapters.rate_limiter import build_rate_limiter

        return build_rate_limiter(self.settings.rate_limit, self.settings.shared_redis_url())

    @cached_property
    def queue_depths(self) -> QueueDepths:
        """Messages waiting per broker queue (known only for a Redis broker)."""
        return build_queue_depths(self.settings)


def build_services(settings: Settings) -> Services:
    """This process's services: the store opened now, everything else on first use."""
    services = Services(settings)
    services.store  # noqa: B018 -- migrate (or refuse a stale schema) before any work
    return services


class ServerProbes:
    """HealthProbes on the configured servers; the classifier is the one `services` holds."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def store_schema(self) -> SchemaState:
        """The store's schema state, read-only."""
        from pipeline.store.health import read_schema_state

        return read_schema_state(self.services.settings.database_url)

    def reach(self, url: str) -> str | None:
        """None when the server at `url` answers, else why not."""
        from pipeline.adapters.probes import reach

        return reach(url)

    def classifier(self) -> str:
        """Build (load) the configured classifier and name it."""
        problem = llm_key_problem(self.services.settings)
        if problem is not None:  # said before loading the local model, which takes a moment
            raise ConfigurationError(problem)
        classifier = self.services.classifier
        return f"{classifier.name} ({classifier.model_version})"


def build_health_probes(services: Services) -> HealthProbes:
    """What `triage doctor` and the start-up checks look through."""
    return ServerProbes(services)
