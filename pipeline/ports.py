"""Every port of the pipeline: the interfaces stages and operations use, each with a real
adapter (SQL, Redis, HTTP, an SDK) and an in-memory one for tests and the embedded demo.

Wiring (`pipeline.wiring`) picks the implementations; nothing else names an adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pipeline.domain.changes import (
    Acceptance,
    CategoryCorrection,
    ClassifiedTicket,
    Closed,
    DeliveryAttempt,
    DeliveryRecord,
    FailedAttempt,
    OverdueTicket,
    Reopening,
    RoutedTicket,
    TicketRef,
)
from pipeline.domain.classification import (
    Classification,
    ClassifierResult,
    GroupResult,
    TicketText,
)
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.domain.models import AuditEntry, TicketRecord, TicketSubmission
from pipeline.domain.operator import (
    ApiKey,
    BackfillJob,
    BatchProgress,
    JobStatus,
    KnownLabel,
    NewTicket,
    RetryingFigures,
    StatusFigures,
    StoredKey,
    StoredTickets,
)
from pipeline.domain.review import ReceivedTicket, TicketSearch, TrailEvent
from pipeline.domain.writeback import WritebackRequest

# --- classification ------------------------------------------------------------------------


@runtime_checkable
class Classifier(Protocol):
    """Decides category, urgency, language and confidence for tickets.

    LLM classifiers raise the LLM errors of `pipeline.domain.errors` (LLMUnavailable with
    `retry_after`/`rate_limited`, LLMBudgetExhausted, LLMRejected); `queue=None` means the
    classifier's own default queue (for the shared budget's shares).
    """

    name: str
    model_version: str

    def classify(self, ticket: TicketText) -> Classification:
        """Classify one ticket."""
        ...

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Classify several tickets at once, in the same order."""
        ...

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        """Classify one ticket and say what it cost (the LLM call, the cascade step)."""
        ...

    def classify_group(
        self, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        """Classify a group in as few calls as the classifier can; absent ids: ask alone."""
        ...


class FallbackChain(Protocol):
    """TRIAGE_LLM_FALLBACKS: who answers, in turn, once a queue's LLM is given up on."""

    local: Classifier | None  # the last resort (its decision goes to review); None: fail

    def primary(self, queue: str) -> tuple[str, str]:
        """(provider, model) of the LLM the queue's own classifier calls."""
        ...

    def tiers(self, queue: str) -> Sequence[Classifier]:
        """The LLM classifiers to try after the queue's own, in order."""
        ...


class DecisionCache(Protocol):
    """Decisions by key; a miss, an expired entry or a broken store all read as None."""

    def get(self, key: str) -> Classification | None:
        """The cached decision, if any."""
        ...

    def put(self, key: str, decision: Classification) -> None:
        """Remember a decision for the cache's time to live."""
        ...


class LLMBudget(Protocol):
    """A budget shared by every process; never blocks."""

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        """0.0 when one request of `tokens` estimated tokens is granted, else seconds to wait."""
        ...

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        """Charge the tokens a granted call used beyond its estimate (best effort)."""
        ...


class SpendLedger(Protocol):
    """Month-to-date LLM spend in USD, shared by every process (calendar months, UTC)."""

    def add(self, usd: float, *, at: datetime | None = None) -> float:
        """Charge one call's cost to its month; the month's total after it."""
        ...

    def month_to_date(self, *, at: datetime | None = None) -> float:
        """The month's spend so far (seeded from the audit trail when not yet counted)."""
        ...


# --- LLM transport -------------------------------------------------------------------------
# The provider-specific part of an LLM classifier: one request, one answer. PII masking, the
# decision cache, the shared budget, the prompt and the parsing are the classifier's
# (pipeline.classifiers.llm), the same for every provider.


@dataclass(frozen=True)
class LLMAnswer:
    """The provider's raw answer text and what it used."""

    text: str | None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None  # what the quota counts (thinking tokens included)
    blocked: str | None = None  # why the provider refused to answer the prompt, if it did


class LLMTransport(Protocol):
    """Sends one structured-output request to one provider; no retries of its own."""

    provider: str  # the classifier's name in decisions and the audit, e.g. "gemini"

    def send(self, *, system: str, contents: str, schema: dict[str, Any], model: str) -> LLMAnswer:
        """One request; the same `schema` object on every call (transports may cache on it).

        Raise LLMUnavailable (408/429/5xx, timeouts; `retry_after` from the provider,
        `rate_limited=True` for 429), LLMRejected (other 4xx) or LLMBadAnswer (unreadable).
        `contents` is already masked; error messages must quote neither it nor a key.
        """
        ...

    def close(self) -> None:
        """Release the provider's connections."""
        ...


# --- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the department answered to a successful delivery."""

    status_code: int
    latency_ms: float


@dataclass(frozen=True)
class FetchedTicket:
    """A helpdesk ticket read through its API: what a webhook carrying only the id lacked."""

    subject: str
    description: str
    customer_id: str
    priority: str | None = None  # ours (low, normal, high, urgent), already mapped
    extra: dict[str, Any] = field(default_factory=dict)


class TicketFetcher(Protocol):
    """Reads a helpdesk ticket by the helpdesk's id (Zendesk events that carry only an id)."""

    def fetch(self, connector: str, external_id: str) -> FetchedTicket:
        """The ticket; TransientError (429/5xx, timeouts) to retry, PermanentError otherwise."""
        ...


class DepartmentClient(Protocol):
    """Sends one ticket body to one department endpoint."""

    def deliver(self, endpoint: str, body: bytes, headers: dict[str, str]) -> DeliveryReceipt:
        """POST the body; raise DepartmentUnavailable (retry) or DeliveryRejected (do not)."""
        ...


@dataclass(frozen=True)
class WritebackReceipt:
    """What a helpdesk answered to a successful write-back (the last call's answer)."""

    status_code: int
    latency_ms: float
    body: str | None = None  # bounded, secrets masked


class HelpdeskWriter(Protocol):
    """Writes one triage decision back to the helpdesk ticket it came from."""

    name: str  # "zendesk", "freshdesk", "jira", "github", "intercom"

    def endpoint(self, request: WritebackRequest) -> str:
        """The URL the write goes to (for the delivery record; never a credential)."""
        ...

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """Make the helpdesk's documented calls; raise HelpdeskUnavailable or HelpdeskRejected."""
        ...


class CircuitBreaker(Protocol):
    """Tracks consecutive failures per department; opens after a threshold for a cool-down."""

    def check(self, department: str) -> None:
        """Raise CircuitOpen if the department's circuit is open."""
        ...

    def record_success(self, department: str) -> None:
        """Close the circuit."""
        ...

    def record_failure(self, department: str) -> None:
        """Count a failure; open the circuit at the threshold."""
        ...

    def open_circuits(self) -> dict[str, float]:
        """Departments whose circuit is open, with seconds until it closes."""
        ...


# --- ingest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitExceeded:
    """A limit a key went over, and when to come back."""

    limit: str
    retry_after_s: int


class RateLimiter(Protocol):
    """Requests per API key in windows shared by every API process."""

    def hit(self, key_name: str) -> RateLimitExceeded | None:
        """Count one request; the limit it broke, or None to let it through."""
        ...


class AuthFailureLimiter(Protocol):
    """Failed authentications per client address, in windows shared by every API process."""

    def blocked(self, address: str) -> RateLimitExceeded | None:
        """The limit this address already broke (answer 429 before any check), or None."""
        ...

    def failed(self, address: str) -> None:
        """Count one failed authentication from this address."""
        ...


class KeyChanges(Protocol):
    """A generation every API process reads per request, moved on when a key changes."""

    def generation(self) -> int | None:
        """The current generation; None when it cannot be read (caches then expire by time)."""
        ...

    def announce(self) -> bool:
        """Move the generation on (a key was created or revoked); False if it could not."""
        ...


# --- broker ---------------------------------------------------------------------------------


class QueueDepths(Protocol):
    """How many messages wait in each broker queue, for the status screen and metrics."""

    def depths(self) -> dict[str, int | None]:
        """Messages waiting per queue name; None where the broker cannot say."""
        ...


# --- worker safety -------------------------------------------------------------------------


class StageRunCounter(Protocol):
    """Counts unfinished runs of (ticket, stage); a run that ends in any way clears it."""

    def started(self, ticket_id: str, stage: str) -> int:
        """Count one more start and return how many runs have started without finishing."""
        ...

    def finished(self, ticket_id: str, stage: str) -> None:
        """The run ended (success, retry scheduled, or failure recorded)."""
        ...


# --- backfill pace -------------------------------------------------------------------------


class LiveWork(Protocol):
    """How much live work is under way: what a backfill yields to."""

    def in_flight(self, *, since: datetime) -> int:
        """Live tickets accepted and not yet final, touched since `since`, none waiting a retry."""
        ...


# --- the ticket store ----------------------------------------------------------------------
# Every write below is one transaction that also appends the audit event explaining it, and
# is guarded: it only applies while the ticket is still in the state the lifecycle expects
# (False / an empty answer when it moved on). SQL: pipeline.store.tickets.TicketStore;
# in memory: pipeline.store.memory.InMemoryTicketRepository.


class TicketRepository(Protocol):
    """Tickets, their deliveries and their audit trail, through named operations only."""

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    def accept(
        self,
        submission: TicketSubmission,
        *,
        source: str,
        idempotency_key: str | None,
        payload_hash: str,
        queue: Queue = Queue.live,
        connector: str | None = None,
    ) -> Acceptance:
        """Store a new ticket as `received` with its audit event, or return the earlier one."""
        ...

    def get(self, ticket_id: str) -> TicketRecord:
        """One ticket, or raise TicketNotFound."""
        ...

    def audit_trail(self, ticket_id: str) -> list[AuditEntry]:
        """A ticket's audit events, oldest first (TicketNotFound if there is no ticket)."""
        ...

    def list_tickets(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        after_id: str | None = None,
        limit: int = 100,
    ) -> list[TicketRecord]:
        """Tickets filtered by status and update time, in stable (updated_at, id) order."""
        ...

    def count_by_status(self, ticket_ids: list[str] | None = None) -> dict[str, int]:
        """How many tickets are in each status (optionally among the given ids)."""
        ...

    def find_refs(
        self,
        *,
        status: TicketStatus,
        since: datetime | None = None,
        category: str | None = None,
        limit: int = 100_000,
    ) -> list[TicketRef]:
        """Tickets in `status` (updated since, of category), least recently updated first."""
        ...

    def received_among(self, ticket_ids: Sequence[str]) -> list[TicketRecord]:
        """The given tickets that are still `received`."""
        ...

    def get_with_deliveries(
        self, ticket_id: str
    ) -> tuple[TicketRecord, dict[tuple[str, str], DeliveryRecord]]:
        """A ticket and its current generation's deliveries by (department, target)."""
        ...

    def deliveries(self, ticket_id: str) -> list[DeliveryRecord]:
        """Every delivery record of a ticket, oldest first."""
        ...

    def fill_fetched(self, ticket_id: str, fetched: FetchedTicket, *, attempt: int) -> bool:
        """A `received` ticket's text from its helpdesk's API; audit `fetched` (False: moved on)."""
        ...

    def mark_classified(self, classified: ClassifiedTicket, *, attempt: int) -> bool:
        """received → classified with the decision; audit `classified`."""
        ...

    def mark_classified_many(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """`mark_classified` for a group in one transaction; the ids that moved, in order."""
        ...

    def record_attempt(self, ticket_id: str, failure: FailedAttempt) -> bool:
        """A transient failure at the stage's input state; audit `attempt_failed`/`waiting`."""
        ...

    def fail(
        self, ticket_id: str, stage: Stage, *, error: str, permanent: bool, attempt: int
    ) -> bool:
        """The stage's input state → failed (replayable); audit `failed`."""
        ...

    def record_delivery_attempt(self, delivery: DeliveryAttempt) -> None:
        """Count one more attempt of a delivery that did not succeed (pending or rejected)."""
        ...

    def mark_routed(self, routed: RoutedTicket, *, attempt: int) -> bool:
        """classified → routed, with its delivery record; audit `delivered`/`routing_recorded`."""
        ...

    def close(self, ticket_id: str, *, attempt: int) -> Closed:
        """routed → done or needs_review (lifecycle.final_status); audit `closed`."""
        ...

    def reopen(self, reopening: Reopening) -> bool:
        """A final ticket back before a stage (replay); audit `reopened`."""
        ...

    def correct(self, correction: CategoryCorrection) -> bool:
        """A person's category on a final ticket (→ classified if re-routed); audit `corrected`."""
        ...

    def claim_overdue(self, *, sweep_after_s: float, limit: int = 500) -> list[OverdueTicket]:
        """Claim tickets stuck past the deadline or due a deferred attempt; audit `requeued`."""
        ...


class GroupedTransitions(Protocol):
    """A group of tickets through a stage in one transaction each (grouped backfill stages).

    Each change is guarded like its single-ticket twin: only tickets still in the stage's input
    state move, each with its own audit event; the ids returned are those that moved.
    SQL: pipeline/store/grouped.py; in memory: pipeline/backfill/grouped_memory.py.
    """

    def tickets_among(
        self, ticket_ids: Sequence[str], status: TicketStatus | None
    ) -> list[TicketRecord]:
        """The given tickets that are in `status` (None: in any), in the order given."""
        ...

    def statuses_of(self, ticket_ids: Sequence[str]) -> dict[str, str]:
        """Each stored ticket's status (a ticket not stored is absent)."""
        ...

    def mark_classified_group(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """received → classified for many, audit `classified` each; the ids that moved."""
        ...

    def mark_routed_group(self, routed: Sequence[RoutedTicket], *, attempt: int) -> list[str]:
        """classified → routed for many (nothing sent), audit each; the ids that moved."""
        ...

    def close_group(self, ticket_ids: Sequence[str], *, attempt: int) -> list[Closed]:
        """routed → done/needs_review for many, audit `closed` each; those closed."""
        ...


# --- operator stores -----------------------------------------------------------------------
# API keys, backfill jobs, reports and retention: each operation is one transaction (with the
# audit events of the tickets it changes). SQL in pipeline/store/, in-memory beside them.


class ApiKeyRepository(Protocol):
    """API keys, stored as keyed hashes and found by their public prefix."""

    def add(self, key: StoredKey) -> None:
        """Store a new key; raise ApiKeyError if its name is taken."""
        ...

    def all(self) -> list[ApiKey]:
        """Every key's public facts, oldest first."""
        ...

    def revoke(self, name: str, at: datetime) -> None:
        """Mark a key revoked (a revoked key keeps its first date); ApiKeyError if unknown."""
        ...

    def by_prefix(self, prefix: str) -> StoredKey | None:
        """The key with this lookup prefix, if any."""
        ...


class BackfillRepository(Protocol):
    """Backfill job rows and the tickets they store, batch by batch."""

    def add_job(self, job: BackfillJob) -> None:
        """Store a new job row."""
        ...

    def job(self, job_id: str | None) -> BackfillJob | None:
        """A job by id, or the newest one when `job_id` is None."""
        ...

    def newest_with_tickets(self) -> BackfillJob | None:
        """The newest job that stored tickets (a re-run that only skipped holds none)."""
        ...

    def set_status(self, job_id: str, status: JobStatus) -> None:
        """Record where the job stands."""
        ...

    def add_enqueued(self, job_id: str, count: int) -> None:
        """Count tickets published to the backfill queue."""
        ...

    def ticket_statuses(self, job_id: str) -> dict[str, int]:
        """How many of the job's tickets are in each status."""
        ...

    def store_tickets(
        self,
        tickets: Sequence[NewTicket],
        detail: dict[str, Any],
        progress: BatchProgress | None = None,
    ) -> StoredTickets:
        """One transaction: insert the new tickets with `received` events, advance the job.

        Repeats (same source and idempotency key) are skipped and answered with the stored id.
        """
        ...


class LLMBatchLedger(Protocol):
    """A job's tickets while a provider's batch job classifies them."""

    def received_texts(self, job_id: str) -> list[TicketText]:
        """The job's tickets still `received`, in load order."""
        ...

    def hold(self, batch: str, ticket_ids: Sequence[str], until: datetime) -> None:
        """Keep the sweeper off the tickets still `received` until `until`; audit why."""
        ...

    def release(self, batch: str, ticket_ids: Sequence[str], why: str) -> list[str]:
        """Lift the hold on tickets still `received`; those ids."""
        ...

    def record_answers(
        self, batch: str, answers: Sequence[ClassifiedTicket], ticket_ids: Sequence[str], why: str
    ) -> tuple[list[str], list[str]]:
        """One transaction: classify the answered, release the rest; (classified, left)."""
        ...


class ReportQueries(Protocol):
    """Read-only figures for the status screen, the metrics gauges and training."""

    def status_figures(
        self,
        *,
        since: datetime,
        failures_since: datetime,
        events: Sequence[str],
        events_limit: int,
    ) -> StatusFigures:
        """Tickets by current status, received/finished since `since`, failures, events."""
        ...

    def retrying(self, *, limit: int) -> RetryingFigures:
        """Tickets not final whose current stage failed, in the `limit` largest error groups."""
        ...

    def state_counts(self, pending: Sequence[TicketStatus], since: datetime) -> dict[str, int]:
        """Tickets by status: every pending one, and the others updated since `since`."""
        ...

    def known_labels(self, limit: int) -> list[KnownLabel]:
        """Tickets with a known category and their text still present, oldest first."""
        ...

    # The review console's reads (SQL: pipeline/store/reports.py; memory: memory_operator.py).

    def search_tickets(
        self,
        search: TicketSearch,
        *,
        after_id: str | None = None,
        limit: int = 50,
        oldest_first: bool = False,
    ) -> list[TicketRecord]:
        """Tickets matching `search` by (received_at, id), after the cursor ticket `after_id`."""
        ...

    def trail_events(
        self, events: Sequence[str], *, since: datetime, limit: int
    ) -> list[TrailEvent]:
        """Audit events of these kinds since `since`, newest first, at most `limit`."""
        ...

    def received_tickets(self, *, since: datetime, limit: int) -> list[ReceivedTicket]:
        """Arrival time and current category of tickets received since `since`."""
        ...

    def llm_spend_since(self, since: datetime) -> float:
        """USD the audited LLM calls since `since` cost (calls of unknown price count 0)."""
        ...


@dataclass(frozen=True)
class RetentionBatch:
    """One retention batch: how many tickets it blanked, and the cursor to go on after."""

    count: int
    last_id: str | None  # the highest id this batch blanked (the previous cursor if none)


class RetentionStore(Protocol):
    """Blanks ticket text and PII in batches, walking ticket ids; skeleton and trail stay."""

    def erase_customer_batch(
        self, customer_id: str, *, actor: str, limit: int, after_id: str | None = None
    ) -> RetentionBatch:
        """Erase up to `limit` of a customer's tickets (ids after `after_id`) not yet erased."""
        ...

    def purge_batch(
        self, before: datetime, *, actor: str, limit: int, after_id: str | None = None
    ) -> RetentionBatch:
        """Purge up to `limit` final tickets received before `before` (ids after `after_id`)."""
        ...


@dataclass(frozen=True)
class RetriageFilter:
    """Which stored tickets `triage retriage` looks at (final ones with a decision)."""

    statuses: tuple[TicketStatus, ...] = (TicketStatus.done, TicketStatus.needs_review)
    since: datetime | None = None  # received at or after
    category: str | None = None  # their current category


@dataclass(frozen=True)
class Retriage:
    """The current classifier's decision replacing a final ticket's, one generation further.

    `deliver`: back to `classified` for the route stage to deliver (and write back); else the
    new category, department and final status are recorded with nothing sent.
    """

    ticket_id: str
    from_status: TicketStatus
    generation: int  # the ticket's generation when it was read: a ticket changed since is left
    decision: Classification
    department: str
    review_reason: str | None
    previous: dict[str, Any]  # category, department, status, classifier, model before
    actor: str
    deliver: bool = False

    @property
    def to_status(self) -> TicketStatus:
        """Where the ticket ends up (before the route stage runs again, with `deliver`)."""
        if self.deliver:
            return TicketStatus.classified
        return TicketStatus.needs_review if self.review_reason else TicketStatus.done

    def detail(self) -> dict[str, Any]:
        """The `retriaged` audit event's detail: before and after, never the ticket's text."""
        d = self.decision
        after = {"category": d.category, "department": self.department, "confidence": d.confidence}
        after |= {"classifier": d.classifier, "model": d.model, "status": self.to_status.value}
        return {
            "by": self.actor,
            "from": self.previous,
            "to": after,
            "generation": self.generation + 1,
            "delivered": self.deliver,
            "review_reason": self.review_reason,
        }


class RetriageStore(Protocol):
    """Reads final tickets for a retriage and applies one change per transaction."""

    def retriage_count(self, which: RetriageFilter) -> int:
        """How many tickets match."""
        ...

    def retriage_candidates(
        self, which: RetriageFilter, *, limit: int, after_id: str | None = None
    ) -> list[TicketRecord]:
        """Up to `limit` matching tickets with ids after `after_id`, in id order."""
        ...

    def retriage(self, change: Retriage) -> bool:
        """Apply one change with its `retriaged` audit event (False: the ticket moved on)."""
        ...


class OperatorStores(Protocol):
    """A store's operator-side repositories (the SQL TicketStore offers all of them)."""

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def backfill(self) -> BackfillRepository: ...

    @property
    def llm_batches(self) -> LLMBatchLedger: ...

    @property
    def reports(self) -> ReportQueries: ...

    @property
    def retention(self) -> RetentionStore: ...


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the code's migrations, or why it could not be read."""

    error: str | None = None  # why the store did not answer (None: it did)
    current: str | None = None
    head: str | None = None
    holds_tickets: bool = False


class HealthProbes(Protocol):
    """Looks at what a process depends on, read-only (`triage doctor`, start-up checks)."""

    def store_schema(self) -> SchemaState:
        """The store's schema revision against the code's, without migrating anything."""
        ...

    def reach(self, url: str) -> str | None:
        """None when the server at `url` answers (Redis PING, else a TCP connect), else why not."""
        ...

    def classifier(self) -> str:
        """Build the configured classifier and name it; raises when it cannot be built."""
        ...

    def llm_month_spend(self) -> float:
        """USD the LLM cost this month so far (the shared counter, seeded from the store)."""
        ...
