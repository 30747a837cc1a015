"""The numbers behind `triage status`: queues, statuses, retries, circuits, timings, LLM use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from pipeline.domain.lifecycle import FINAL_STATUSES, PIPELINE_STAGES, TicketStatus
from pipeline.ports import CircuitBreaker, OperatorStores, QueueDepths

RECENT_EVENTS = 5000  # enough for stable percentiles, bounded for a big store
RETRY_GROUPS = 5  # the status screen shows the largest groups of retrying tickets
ERROR_CHARS = 120


class StageTiming(BaseModel):
    """Percentiles of one stage's time (queue wait included), in milliseconds."""

    stage: str
    p50_ms: float
    p95_ms: float
    count: int


class RetryingGroup(BaseModel):
    """Tickets retrying their current stage with the same last error."""

    error: str
    tickets: int
    next_attempt_at: datetime | None  # the soonest in the store; None: a Celery countdown
    retrying_since: datetime | None  # the group's oldest first failure
    example_id: str


class StatusReport(BaseModel):
    """One screen's worth of facts about the pipeline, as of `at`."""

    at: datetime
    queue_depths: dict[str, int | None]  # None: the broker could not be asked
    statuses: dict[str, int]  # every ticket by its current status (each status present)
    pending: dict[str, int]  # the non-final part of `statuses` that has tickets
    received_last_hour: int
    finished_last_hour: dict[str, int]  # reached done / needs_review / failed in the last hour
    retrying_total: int
    retrying: list[RetryingGroup]
    open_circuits: dict[str, float] | None  # department -> seconds to close; None: unknown
    circuits_error: str | None  # why the circuits are unknown, when they were asked and failed
    top_failures: list[tuple[str, int]]  # failed in the last 24 h, by last error
    stage_timings: list[StageTiming]
    llm_requests_last_hour: int
    llm_tokens_last_hour: int
    llm_cache_hits_last_hour: int
    # USD from the audited calls' cost_usd (unknown prices count 0), UTC day and month.
    llm_spend_last_hour_usd: float = 0.0
    llm_spend_today_usd: float = 0.0
    llm_spend_month_usd: float = 0.0
    llm_monthly_budget_usd: float | None = None  # TRIAGE_LLM_MONTHLY_BUDGET

    @property
    def llm_monthly_budget_reached(self) -> bool:
        """Whether this month's spend has used up TRIAGE_LLM_MONTHLY_BUDGET."""
        budget = self.llm_monthly_budget_usd
        return budget is not None and self.llm_spend_month_usd >= budget


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def gather_status(
    store: OperatorStores,
    queues: QueueDepths,
    circuits: CircuitBreaker | None = None,
    *,
    now: datetime | None = None,
    monthly_budget: float | None = None,
) -> StatusReport:
    """Read everything the status screen shows; `circuits` None: this process cannot know."""
    now = now or datetime.now(UTC)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = now - timedelta(hours=1)
    figures = store.reports.status_figures(
        since=since,
        failures_since=now - timedelta(days=1),
        events=["closed", "classified"],
        events_limit=RECENT_EVENTS,
    )
    retrying = store.reports.retrying(limit=RETRY_GROUPS)
    open_circuits, circuits_error = _read_circuits(circuits)
    statuses = {s.value: figures.statuses.get(s.value, 0) for s in TicketStatus}
    llm, timings = _recent_events(figures.recent_events)
    return StatusReport(
        at=now,
        queue_depths=queues.depths(),
        statuses=statuses,
        pending={s: n for s, n in statuses.items() if n and TicketStatus(s) not in FINAL_STATUSES},
        received_last_hour=figures.received_since,
        finished_last_hour={
            s.value: figures.finished_since.get(s.value, 0)
            for s in TicketStatus
            if s in FINAL_STATUSES
        },
        retrying_total=retrying.total,
        retrying=[
            RetryingGroup(
                error=_short(g.error) if g.error else "(no error recorded: held for later)",
                tickets=g.tickets,
                next_attempt_at=g.next_attempt_at,
                retrying_since=g.retrying_since,
                example_id=g.example_id,
            )
            for g in retrying.groups
        ],
        open_circuits=open_circuits,
        circuits_error=circuits_error,
        top_failures=[(_short(error or "unknown"), n) for error, n in figures.top_failures],
        stage_timings=[
            StageTiming(
                stage=stage,
                p50_ms=percentile(values, 0.5),
                p95_ms=percentile(values, 0.95),
                count=len(values),
            )
            for stage, values in sorted(timings.items(), key=_stage_order)
        ],
        llm_requests_last_hour=llm["requests"],
        llm_tokens_last_hour=llm["tokens"],
        llm_cache_hits_last_hour=llm["cache_hits"],
        llm_spend_last_hour_usd=store.reports.llm_spend_since(since),
        llm_spend_today_usd=store.reports.llm_spend_since(day),
        llm_spend_month_usd=store.reports.llm_spend_since(day.replace(day=1)),
        llm_monthly_budget_usd=monthly_budget,
    )


def _read_circuits(circuits: CircuitBreaker | None) -> tuple[dict[str, float] | None, str | None]:
    if circuits is None:
        return None, None
    try:
        return circuits.open_circuits(), None
    except Exception as error:  # the breaker's store (Redis) is down: unknown, not "none open"
        return None, type(error).__name__


def _recent_events(
    events: list[tuple[str, dict[str, Any]]],
) -> tuple[Counter[str], dict[str, list[float]]]:
    timings: dict[str, list[float]] = {}
    llm: Counter[str] = Counter()
    for event, detail in events:
        if event == "closed":
            for stage, ms in (detail.get("stage_ms") or {}).items():
                timings.setdefault(stage, []).append(float(ms))
        else:
            # Any provider's call (the cascade nests its LLM call); the local model has none.
            call = detail.get("llm_call") or detail
            if isinstance(call, dict) and call.get("provider"):
                _count_llm(llm, call)
    return llm, timings


def _stage_order(item: tuple[str, list[float]]) -> tuple[int, str]:
    # Pipeline order (classify, route, audit), then the total and anything newer by name.
    order = [stage.value for stage in PIPELINE_STAGES]
    return (order.index(item[0]) if item[0] in order else len(order), item[0])


def _short(error: str) -> str:
    # One line: an error's text may carry a provider's multi-line body.
    flat = " ".join(error.split())
    return flat if len(flat) <= ERROR_CHARS else flat[: ERROR_CHARS - 1] + "…"


def _count_llm(counter: Counter[str], detail: dict[str, Any]) -> None:
    if detail.get("cache_hit"):
        counter["cache_hits"] += 1
        return
    counter["requests"] += 1
    counter["tokens"] += int(detail.get("prompt_tokens") or 0) + int(
        detail.get("output_tokens") or 0
    )
