"""Evaluating a classifier on labelled examples: accuracy, macro-F1, confusions, calibration.

Works with any `Classifier` and never imports scikit-learn, so scoring needs no training code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.domain.classification import TicketText
from pipeline.ports import Classifier

REVIEW_THRESHOLD = 0.55  # the pipeline's default confidence threshold


@dataclass
class Evaluation:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the worst confusions."""

    n: int
    accuracy: float
    macro_f1: float
    per_label: dict[str, dict[str, float]]
    confusions: list[tuple[str, str, int]]
    urgency_accuracy: float | None = None
    unknown_labels: list[str] = field(default_factory=list)
    # Calibration: expected calibration error of the confidence, and what a review threshold
    # keeps (share of tickets at or above it, and their accuracy).
    ece: float | None = None
    threshold: float = REVIEW_THRESHOLD
    above_threshold_share: float | None = None
    above_threshold_accuracy: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def score_predictions(
    truth: Sequence[str], predicted: Sequence[str], worst: int = 10
) -> Evaluation:
    """Metrics of predicted labels against true ones (macro-F1 over every label seen)."""
    pairs = Counter(zip(truth, predicted, strict=True))
    true_n, pred_n = Counter(truth), Counter(predicted)
    per_label: dict[str, dict[str, float]] = {}
    for label in sorted(set(true_n) | set(pred_n)):
        hits = pairs[(label, label)]
        precision = hits / pred_n[label] if pred_n[label] else 0.0
        recall = hits / true_n[label] if true_n[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1}
        per_label[label]["support"] = true_n[label]
    correct = sum(n for (a, b), n in pairs.items() if a == b)
    confusions = sorted(
        ((a, b, n) for (a, b), n in pairs.items() if a != b), key=lambda c: (-c[2], c[0], c[1])
    )
    return Evaluation(
        n=len(truth),
        accuracy=correct / len(truth) if truth else 0.0,
        macro_f1=float(np.mean([s["f1"] for s in per_label.values()])) if per_label else 0.0,
        per_label=per_label,
        confusions=confusions[:worst],
    )


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: mean |accuracy - confidence| over equal-width bins."""
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in np.unique(which):
        inside = which == b
        error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def evaluate(
    classifier: Classifier,
    examples: Sequence[LabelledExample],
    batch_size: int = 4096,
    threshold: float = REVIEW_THRESHOLD,
    on_batch: Callable[[int], None] | None = None,
) -> Evaluation:
    """Classify the examples in batches and score the categories (and urgency, if labelled).

    `on_batch` is told how many examples are classified after each batch (a progress display).
    """
    tickets = [TicketText(subject=e.subject, description=e.description) for e in examples]
    decisions = []
    for start in range(0, len(tickets), batch_size):
        decisions += classifier.classify_many(tickets[start : start + batch_size])
        if on_batch is not None:
            on_batch(len(decisions))
    result = score_predictions([e.category for e in examples], [d.category for d in decisions])
    urgent = [(e.urgency, d.urgency) for e, d in zip(examples, decisions, strict=True) if e.urgency]
    if urgent:
        result.urgency_accuracy = float(np.mean([a == b for a, b in urgent]))
    model_labels = set(getattr(classifier, "labels", ()))
    if model_labels:
        result.unknown_labels = sorted({e.category for e in examples} - model_labels)
    if decisions:
        confidence = np.array([d.confidence for d in decisions])
        correct = np.array(
            [d.category == e.category for d, e in zip(decisions, examples, strict=True)]
        )
        above = confidence >= threshold
        result.ece = calibration_error(confidence, correct)
        result.threshold = threshold
        result.above_threshold_share = float(above.mean())
        result.above_threshold_accuracy = float(correct[above].mean()) if above.any() else None
    return result


@dataclass(frozen=True)
class OperatingPoint:
    """What a review threshold keeps: the share of tickets at or above it and their precision."""

    threshold: float
    coverage: float
    precision: float | None


def operating_point(
    confidence: Sequence[float], correct: Sequence[bool], threshold: float
) -> OperatingPoint:
    """Coverage and precision of the decisions whose confidence reaches `threshold`."""
    conf, hit = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    above = conf >= threshold
    coverage = float(above.mean()) if len(conf) else 0.0
    precision = float(hit[above].mean()) if above.any() else None
    return OperatingPoint(threshold=threshold, coverage=coverage, precision=precision)


def threshold_for_precision(
    confidence: Sequence[float], correct: Sequence[bool], target: float, min_support: int = 20
) -> OperatingPoint | None:
    """The lowest threshold whose kept decisions are at least `target` precise (most coverage).

    Only thresholds keeping at least `min_support` decisions count, so a handful of lucky
    high-confidence tickets cannot set it; None when no threshold reaches the target.
    """
    conf, hit = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    conf, hit = conf[order], hit[order]
    kept = np.arange(1, len(conf) + 1)
    precision = np.cumsum(hit) / kept
    # A threshold keeps every decision at or above it: only the last of a run of ties counts.
    last_of_tie = np.append(conf[1:] != conf[:-1], True)
    ok = (precision >= target) & (kept >= min_support) & last_of_tie
    if not ok.any():
        return None
    best = int(np.flatnonzero(ok)[-1])
    return OperatingPoint(
        threshold=float(conf[best]),
        coverage=float(kept[best] / len(conf)),
        precision=float(precision[best]),
    )
