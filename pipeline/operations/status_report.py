"""The numbers behind `triage status`: queues, statuses, failures, stage timings, LLM use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from pipeline.domain.lifecycle import TicketStatus
from pipeline.ports import OperatorStores, QueueDepths

RECENT_EVENTS = 5000  # enough for stable percentiles, bounded for a big store


class StageTiming(BaseModel):
    """Percentiles of one stage's time (queue wait included), in milliseconds."""

    stage: str
    p50_ms: float
    p95_ms: float
    count: int


class StatusReport(BaseModel):
    """One screen's worth of facts about the pipeline."""

    queue_depths: dict[str, int | None]
    statuses_last_hour: dict[str, int]
    pending: dict[str, int]
    top_failures: list[tuple[str, int]]
    stage_timings: list[StageTiming]
    llm_requests_last_hour: int
    llm_tokens_last_hour: int
    llm_cache_hits_last_hour: int


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def gather_status(store: OperatorStores, queues: QueueDepths) -> StatusReport:
    """Read everything the status screen shows."""
    now = datetime.now(UTC)
    figures = store.reports.status_figures(
        since=now - timedelta(hours=1),
        failures_since=now - timedelta(days=1),
        pending=[TicketStatus.received, TicketStatus.classified, TicketStatus.routed],
        events=["closed", "classified"],
        events_limit=RECENT_EVENTS,
    )
    timings: dict[str, list[float]] = {}
    llm: Counter[str] = Counter()
    for event, detail in figures.recent_events:
        if event == "closed":
            for stage, ms in (detail.get("stage_ms") or {}).items():
                timings.setdefault(stage, []).append(float(ms))
        elif detail.get("classifier") == "gemini":
            _count_llm(llm, detail)
    return StatusReport(
        queue_depths=queues.depths(),
        statuses_last_hour=figures.statuses_since,
        pending=figures.pending,
        top_failures=[(str(error or "unknown")[:120], n) for error, n in figures.top_failures],
        stage_timings=[
            StageTiming(
                stage=stage,
                p50_ms=percentile(values, 0.5),
                p95_ms=percentile(values, 0.95),
                count=len(values),
            )
            for stage, values in sorted(timings.items())
        ],
        llm_requests_last_hour=llm["requests"],
        llm_tokens_last_hour=llm["tokens"],
        llm_cache_hits_last_hour=llm["cache_hits"],
    )


def _count_llm(counter: Counter[str], detail: dict[str, Any]) -> None:
    if detail.get("cache_hit"):
        counter["cache_hits"] += 1
        return
    counter["requests"] += 1
    counter["tokens"] += int(detail.get("prompt_tokens") or 0) + int(
        detail.get("output_tokens") or 0
    )
