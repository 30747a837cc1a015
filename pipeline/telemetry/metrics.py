"""Prometheus metrics, correct across gunicorn and prefork processes (multiprocess mode)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from pipeline.domain.lifecycle import NEXT_STAGE
from pipeline.ports import OperatorStores, QueueDepths

# Metric objects are process-wide by design (prometheus_client's model); with
# PROMETHEUS_MULTIPROC_DIR set before they are created, every process writes its own file
# and the exporter sums them.
TICKETS_ACCEPTED = Counter("triage_tickets_accepted_total", "Tickets accepted", ["source"])
TICKETS_DUPLICATE = Counter(
    "triage_tickets_duplicate_total", "Repeated submissions answered with the stored ticket"
)
TICKETS_REJECTED = Counter(
    "triage_tickets_rejected_total", "Submissions refused, by error code", ["reason"]
)
INGEST_SECONDS = Histogram(
    "triage_ingest_seconds",
    "POST /tickets handling time",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INGEST_COMMIT_BATCH = Histogram(
    "triage_ingest_commit_batch_size",
    "Tickets committed together by one ingest transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
STAGE_SECONDS = Histogram(
    "triage_stage_seconds",
    "Stage run time",
    ["stage", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STAGE_RETRIES = Counter(
    "triage_stage_retries_total", "Stage attempts that will be retried", ["stage"]
)
STAGE_FAILURES = Counter("triage_stage_failures_total", "Tickets failed by stage", ["stage"])
LLM_REQUESTS = Counter("triage_llm_requests_total", "LLM calls by outcome", ["outcome"])
LLM_TOKENS = Counter("triage_llm_tokens_total", "LLM tokens", ["kind"])
LLM_CACHE_HITS = Counter("triage_llm_cache_hits_total", "Decisions served from the cache")
LLM_COST = Counter(
    "triage_llm_cost_total",
    "LLM spend in USD, from reported tokens",
    ["provider", "model", "queue"],
)


class PipelineStateCollector(Collector):
    """Scrape-time gauges: queue depth per queue, tickets by status (pending, or last hour)."""

    def __init__(self, store: OperatorStores, queues: QueueDepths) -> None:
        self._store = store
        self._queues = queues

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "triage_queue_depth", "Messages waiting per queue", labels=["queue"]
        )
        for queue, length in self._queue_depths():
            depth.add_metric([queue], length)
        yield depth
        by_status = GaugeMetricFamily(
            "triage_tickets",
            "Tickets by status (pending ones, and final ones of the last hour)",
            labels=["status"],
        )
        for status, count in self._status_counts():
            by_status.add_metric([status], count)
        yield by_status

    def _queue_depths(self) -> Iterator[tuple[str, int]]:
        for queue, length in self._queues.depths().items():
            if length is not None:  # unreachable: the gauge is left out, not reported as 0
                yield queue, length

    def _status_counts(self) -> Iterator[tuple[str, int]]:
        since = datetime.now(UTC) - timedelta(hours=1)
        try:
            counts = self._store.reports.state_counts(list(NEXT_STAGE), since)
        except Exception:  # a scrape must answer even when the store is down
            return
        yield from counts.items()


def metrics_exposition(extra: Collector | None = None) -> tuple[bytes, str]:
    """The text exposition of every process's metrics (summed in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        source: Collector = CollectorRegistry()
        MultiProcessCollector(source)
    else:
        source = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(source))
    if extra is not None:
        registry.register(extra)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward(Collector):
    """Re-exposes another registry's metrics inside ours."""

    def __init__(self, source: Collector) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()

    def describe(self) -> Iterable[Metric]:
        return []
