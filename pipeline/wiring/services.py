"""`Services`: every adapter a process uses, built from its settings on first use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    GroupedTransitions,
    HelpdeskWriter,
    KeyChanges,
    LiveWork,
    QueueDepths,
    RateLimiter,
    StageRunCounter,
    TicketFetcher,
)
from pipeline.settings import Settings
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import ensure_schema
from pipeline.store.tickets import TicketStore
from pipeline.wiring.classifier_services import ClassifierServices

if TYPE_CHECKING:
    from pipeline.backfill.pace import BackfillPace
    from pipeline.store.group_commit import GroupCommitIntake
    from pipeline.telemetry.metrics import PipelineStateCollector


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


def live_work_in(store: object) -> LiveWork:
    """The LiveWork port on this store: SQL, or the in-memory twin."""
    from pipeline.store.live_work import InMemoryLiveWork, SqlLiveWork
    from pipeline.store.memory import InMemoryTicketRepository

    if isinstance(store, InMemoryTicketRepository):
        return InMemoryLiveWork(store)
    if isinstance(store, TicketStore):
        return SqlLiveWork(store.engine)
    raise ConfigurationError(f"no LiveWork for a {type(store).__name__}")


def backfill_pace(settings: Settings, live_work: LiveWork) -> BackfillPace:
    """A backfill process's pace: its rate cap, yielding to live work under way."""
    from pipeline.backfill.pace import LIVE_HORIZON_S, BackfillPace

    def under_way() -> int:
        return live_work.in_flight(since=datetime.now(UTC) - timedelta(seconds=LIVE_HORIZON_S))

    return BackfillPace(
        settings.backfill_max_rate,
        live_work=under_way if settings.backfill_yield_s > 0 else None,
        max_yield_s=settings.backfill_yield_s,
    )


def build_queue_depths(settings: Settings) -> QueueDepths:
    """Queue lengths from the Redis broker, or unknown for any other broker."""
    from pipeline.adapters.queue_depths import RedisQueueDepths, UnknownQueueDepths

    # The broker's own lists: a separate TRIAGE_REDIS_URL holds counters, not the queues.
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisQueueDepths(settings.broker_url)
    return UnknownQueueDepths()


class Services(ClassifierServices):
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
        helpdesk_writers: dict[str, HelpdeskWriter] | None = None,
    ) -> None:
        self.settings = settings
        self._given_store = store
        self._given_routing = routing
        self._given_departments = departments
        self._given_classifier = classifier
        self._given_local_classifier = classifier if local_classifier is None else local_classifier
        self._given_circuit_breaker = circuit_breaker
        self._given_stage_runs = stage_runs
        self._given_helpdesk_writers = helpdesk_writers

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
    def helpdesk_writers(self) -> dict[str, HelpdeskWriter]:
        """One writer per helpdesk the routing file writes back to (ConfigurationError if a
        helpdesk's credentials are missing)."""
        if self._given_helpdesk_writers is not None:
            return self._given_helpdesk_writers
        from pipeline.helpdesks.factory import build_writers

        return build_writers(self.settings, self.routing.helpdesks())

    @cached_property
    def ticket_fetcher(self) -> TicketFetcher | None:
        """Reads Zendesk tickets that came as id-only events (None: no Zendesk credentials)."""
        settings = self.settings
        token = settings.zendesk_api_token
        if not (settings.zendesk_base_url and settings.zendesk_email and token):
            return None
        from pipeline.adapters.zendesk_tickets import ZendeskTicketFetcher

        return ZendeskTicketFetcher(
            settings.zendesk_base_url,
            settings.zendesk_email,
            token.get_secret_value(),
            settings.helpdesk_timeout_s,
        )

    @cached_property
    def stage_runs(self) -> StageRunCounter:
        """Unfinished-run counter per (ticket, stage), for the poison-message guard."""
        if self._given_stage_runs is not None:
            return self._given_stage_runs
        return build_stage_run_counter(
            self.settings.shared_redis_url(), ttl_s=self.settings.visibility_timeout * 4
        )

    @cached_property
    def grouped(self) -> GroupedTransitions:
        """Bulk stage changes for a backfill group (SQL bulk statements on the store)."""
        from pipeline.store.grouped import SqlGroupedTransitions

        return SqlGroupedTransitions(self.store)

    @cached_property
    def live_work(self) -> LiveWork:
        """Live work under way, from the store (what a backfill yields to)."""
        return live_work_in(self.store)

    @cached_property
    def backfill_pace(self) -> BackfillPace:
        """This process's backfill pace (TRIAGE_BACKFILL_MAX_RATE, TRIAGE_BACKFILL_YIELD_S)."""
        return backfill_pace(self.settings, self.live_work)

    def sign_delivery(self, msg_id: str, body: bytes) -> dict[str, str]:
        """Standard Webhooks headers for an outbound delivery (none without a secret)."""
        secret = self.settings.delivery_signing_secret
        if secret is None:
            return {}
        return sign_webhook(secret.get_secret_value(), msg_id, body)

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
        from pipeline.adapters.auth_failures import build_auth_failures

        return KeyVerifier(
            self.store,
            pepper.get_secret_value().encode(),
            self.settings.api_key_cache_s,
            changes=self.key_changes,
            failures=build_auth_failures(
                self.settings.auth_failure_limit, self.settings.shared_redis_url()
            ),
        )

    @cached_property
    def key_changes(self) -> KeyChanges:
        """The keys' generation: in Redis when there is one (every process sees a change)."""
        from pipeline.adapters.key_changes import InMemoryKeyChanges, RedisKeyChanges

        url = self.settings.shared_redis_url()
        return RedisKeyChanges(url) if url else InMemoryKeyChanges()

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
