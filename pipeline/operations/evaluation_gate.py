"""The evaluation gate: run classifiers on a labelled file and score each side by side.

Every LLM call goes through the classifier's own shared budget and decision cache, so an
evaluation is metered (requests, tokens, cost) exactly as production traffic is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.classifiers.local.evaluation import (
    Evaluation,
    OperatingPoint,
    calibration_error,
    operating_point,
    score_predictions,
    threshold_for_precision,
)
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.offline import OfflineCalls
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import LLMBudgetExhausted, TriageError
from pipeline.ports import Classifier

# Tickets per classify_many call for a classifier that asks no LLM (vectorised).
OFFLINE_BATCH = 512
# A budget that says "wait" is waited on this many times per ticket before it counts as an error.
MAX_BUDGET_WAITS = 100
NO_ANSWER = "<no answer>"  # the predicted label of a ticket the classifier failed on


@dataclass
class RunStats:
    """What classifying the file took: LLM requests, cache hits, tokens, cost, latency."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None: some call's price is unknown
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def latency_ms(self, q: float) -> float | None:
        """The q-th percentile of the per-ticket latency (None: nothing was classified)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None


@dataclass
class ClassifierRun:
    """One classifier's answers on the file (None where it failed) and what they took."""

    decisions: list[Classification | None]
    stats: RunStats


def _asks_llm(classifier: Classifier) -> bool:
    return not isinstance(classifier, OfflineCalls)  # the local model, scripts: no LLM


def run_classifier(
    classifier: Classifier,
    tickets: Sequence[TicketText],
    *,
    on_progress: Callable[[int], None] | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> ClassifierRun:
    """Classify every ticket: offline ones in batches, LLM ones one by one, metered."""
    stats = RunStats()
    decisions: list[Classification | None] = []
    if not _asks_llm(classifier):
        for start in range(0, len(tickets), OFFLINE_BATCH):
            batch = tickets[start : start + OFFLINE_BATCH]
            began = time.perf_counter()
            decisions += classifier.classify_many(batch)
            each = (time.perf_counter() - began) * 1000 / max(len(batch), 1)
            stats.latencies_ms += [each] * len(batch)  # amortised over the batch
            if on_progress is not None:
                on_progress(len(decisions))
        return ClassifierRun(decisions, stats)
    for ticket in tickets:
        decisions.append(_classify_one(classifier, ticket, stats, wait))
        if on_progress is not None:
            on_progress(len(decisions))
    return ClassifierRun(decisions, stats)


def _classify_one(
    classifier: Classifier, ticket: TicketText, stats: RunStats, wait: Callable[[float], None]
) -> Classification | None:
    """One ticket through the classifier; the shared budget's waits are honoured."""
    began = time.perf_counter()
    for _ in range(MAX_BUDGET_WAITS):
        try:
            result = classifier.classify_with_details(ticket)
        except LLMBudgetExhausted as exc:
            wait(exc.retry_after or 1.0)
            began = time.perf_counter()
            continue
        except TriageError:
            stats.errors += 1
            return None
        stats.latencies_ms.append((time.perf_counter() - began) * 1000)
        call = result.call
        if call is not None:
            if call.cache_hit:
                stats.cache_hits += 1
            else:
                stats.requests += 1
                stats.prompt_tokens += call.prompt_tokens or 0
                stats.output_tokens += call.output_tokens or 0
                if call.cost_usd is None or stats.cost_usd is None:
                    stats.cost_usd = None
                else:
                    stats.cost_usd += call.cost_usd
        return result.decision
    stats.errors += 1
    return None


@dataclass
class GateReport:
    """One classifier's scores on the file: quality, the review operating point, and cost."""

    name: str
    model: str
    evaluation: Evaluation
    threshold_source: str
    at_threshold: OperatingPoint
    stats: RunStats
    target: OperatingPoint | None = None
    target_precision: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        stats = asdict(self.stats)
        stats.pop("latencies_ms")
        return {
            "classifier": self.name,
            "model": self.model,
            **self.evaluation.as_dict(),
            "threshold_source": self.threshold_source,
            "coverage": self.at_threshold.coverage,
            "precision": self.at_threshold.precision,
            **stats,
            "tokens": self.stats.prompt_tokens + self.stats.output_tokens,
            "latency_p50_ms": self.stats.latency_ms(50),
            "latency_p95_ms": self.stats.latency_ms(95),
            "target_precision": self.target_precision,
            "target": None if self.target is None else asdict(self.target),
        }


def score_run(
    name: str,
    model: str,
    examples: Sequence[LabelledExample],
    run: ClassifierRun,
    *,
    threshold: float,
    threshold_source: str,
    target_precision: float | None = None,
    labels: Sequence[str] = (),
) -> GateReport:
    """Score a run against the file's labels (a failed ticket counts as wrong and unsure)."""
    truth = [e.category for e in examples]
    predicted = [d.category if d is not None else NO_ANSWER for d in run.decisions]
    evaluation = score_predictions(truth, predicted)
    if NO_ANSWER in evaluation.per_label:  # not a label: it must not dilute macro-F1
        del evaluation.per_label[NO_ANSWER]
        f1s = [s["f1"] for s in evaluation.per_label.values()]
        evaluation.macro_f1 = float(np.mean(f1s)) if f1s else 0.0
    confidence = [d.confidence if d is not None else 0.0 for d in run.decisions]
    correct = [p == t for p, t in zip(predicted, truth, strict=True)]
    urgent = [
        (e.urgency, d.urgency)
        for e, d in zip(examples, run.decisions, strict=True)
        if e.urgency and d is not None
    ]
    if urgent:
        evaluation.urgency_accuracy = float(np.mean([a == b for a, b in urgent]))
    if labels:
        evaluation.unknown_labels = sorted(set(truth) - set(labels))
    point = operating_point(confidence, correct, threshold)
    if confidence:
        evaluation.ece = calibration_error(np.array(confidence), np.array(correct))
    evaluation.threshold = threshold
    evaluation.above_threshold_share = point.coverage
    evaluation.above_threshold_accuracy = point.precision
    target = (
        threshold_for_precision(confidence, correct, target_precision)
        if target_precision is not None
        else None
    )
    return GateReport(
        name, model, evaluation, threshold_source, point, run.stats, target, target_precision
    )


def review_threshold(classifier: Classifier, configured: float) -> tuple[float, str]:
    """The threshold its decisions are reviewed below, and whose it is ("model", "configured").

    As in the pipeline, a local model's own threshold (from `triage train`) adds to the
    configured one: a local decision goes to review below either.
    """
    stored = getattr(classifier, "review_threshold", None)
    if classifier.name == "local" and isinstance(stored, (int, float)) and stored > configured:
        return float(stored), "model"
    return configured, "configured"


def below(reports: Sequence[GateReport], fail_under: float | None) -> list[GateReport]:
    """The reports whose accuracy is under the gate (none without a gate)."""
    if fail_under is None:
        return []
    return [r for r in reports if r.evaluation.accuracy < fail_under]
