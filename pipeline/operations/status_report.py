"""The numbers behind `triage status`: queues, statuses, failures, stage timings, LLM use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from pydantic import BaseModel
from sqlalchemy import func, select

from pipeline.domain.lifecycle import Queue, TicketStatus
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow
from pipeline.store.tickets import TicketStore

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


def queue_depths(redis_url: str | None) -> dict[str, int | None]:
    """Messages waiting per queue (None when the broker is not Redis or unreachable)."""
    if redis_url is None:
        return {q.value: None for q in Queue}
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return {q.value: int(client.llen(q.value)) for q in Queue}  # type: ignore[arg-type]
    except redis.RedisError:
        return {q.value: None for q in Queue}
    finally:
        client.close()


def gather_status(store: TicketStore, redis_url: str | None) -> StatusReport:
    """Read everything the status screen shows."""
    since = utcnow() - timedelta(hours=1)
    pending_statuses = [TicketStatus.received, TicketStatus.classified, TicketStatus.routed]
    with store.read() as session:
        recent = dict(
            session.execute(
                select(TicketRow.status, func.count())
                .where(TicketRow.updated_at >= since)
                .group_by(TicketRow.status)
            ).all()
        )
        pending = dict(
            session.execute(
                select(TicketRow.status, func.count())
                .where(TicketRow.status.in_([s.value for s in pending_statuses]))
                .group_by(TicketRow.status)
            ).all()
        )
        failures = session.execute(
            select(TicketRow.last_error, func.count())
            .where(
                TicketRow.status == TicketStatus.failed.value,
                TicketRow.updated_at >= utcnow() - timedelta(days=1),
            )
            .group_by(TicketRow.last_error)
            .order_by(func.count().desc())
            .limit(5)
        ).all()
        events = session.execute(
            select(AuditEventRow.event, AuditEventRow.detail)
            .where(
                AuditEventRow.created_at >= since, AuditEventRow.event.in_(["closed", "classified"])
            )
            .order_by(AuditEventRow.id.desc())
            .limit(RECENT_EVENTS)
        ).all()
    timings: dict[str, list[float]] = {}
    llm: Counter[str] = Counter()
    for event, detail in events:
        detail = detail or {}
        if event == "closed":
            for stage, ms in (detail.get("stage_ms") or {}).items():
                timings.setdefault(stage, []).append(float(ms))
        elif detail.get("classifier") == "gemini":
            _count_llm(llm, detail)
    return StatusReport(
        queue_depths=queue_depths(redis_url),
        statuses_last_hour={str(k): int(v) for k, v in recent.items()},
        pending={str(k): int(v) for k, v in pending.items()},
        top_failures=[(str(error or "unknown")[:120], int(n)) for error, n in failures],
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
