"""Measurements of the classifier benchmark: accuracy on a split, training, size, speed.

Each returns a JSON-ready dict; times are wall and CPU seconds of this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.classifiers.local.classifier import (
    LocalClassifier,
    load_local_classifier,
    sample_as_example,
)
from pipeline.classifiers.local.evaluation import evaluate
from pipeline.classifiers.local.labelled_examples import LabelledExample, stratified_split
from pipeline.classifiers.local.model_file import write_model
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import TicketText


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def split_eval(examples: list[LabelledExample], seed: int = 7) -> dict[str, Any]:
    """Train on a stratified 80%, evaluate on the held-back 20%."""
    train_idx, test_idx = stratified_split([e.category for e in examples], 0.2, seed)
    (model, report), wall, cpu = timed(lambda: train_model([examples[i] for i in train_idx]))
    result = evaluate(LocalClassifier(model), [examples[i] for i in test_idx])
    return {
        "labels": len(report.labels),
        "train": len(train_idx),
        "test": len(test_idx),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
    }


def project_samples() -> dict[str, Any] | None:
    """The default model (trained on the bundled samples) on the samples held out from it."""
    from pipeline.data.samples import is_holdout, load_sample_tickets

    try:
        tickets = load_sample_tickets()
    except FileNotFoundError:
        return None
    examples = [sample_as_example(t) for t in tickets]
    held = [is_holdout(t.external_id) for t in tickets]
    train = [e for e, h in zip(examples, held, strict=True) if not h]
    test = [e for e, h in zip(examples, held, strict=True) if h]
    (model, report), wall, cpu = timed(lambda: train_model(train))
    result = evaluate(LocalClassifier(model), test)
    return {
        "labels": len(report.labels),
        "train": len(train),
        "test": len(test),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "urgency_accuracy": round(result.urgency_accuracy or 0.0, 4),
        "urgency_source": report.urgency_source,
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
    }


def train_and_size(examples: list[LabelledExample], directory: Path, name: str) -> dict[str, Any]:
    """Train on every example, write the model file, and time loading it back."""
    (model, report), wall, cpu = timed(lambda: train_model(examples))
    path = directory / f"{name}.model"
    write_model(model, path)
    _, load_wall, _ = timed(lambda: load_local_classifier(path))
    return {
        "tickets": len(examples),
        "labels": len(report.labels),
        "features": report.n_features,
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
        "model_mb": round(path.stat().st_size / 1e6, 2),
        "load_s": round(load_wall, 3),
        "path": str(path),
    }


def throughput(
    classifier: LocalClassifier, texts: Sequence[str], batch: int = 1000
) -> dict[str, Any]:
    """Tickets classified per CPU-second and per wall second, in batches."""
    tickets = [TicketText(description=t) for t in texts]
    classifier.classify_many(tickets[:50])  # warm: language model loaded, caches filled

    def run() -> None:
        for start in range(0, len(tickets), batch):
            classifier.classify_many(tickets[start : start + batch])

    _, wall, cpu = timed(run)
    return {
        "tickets": len(tickets),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "per_cpu_second": round(len(tickets) / cpu),
        "per_wall_second": round(len(tickets) / wall),
    }


def latency(classifier: LocalClassifier, texts: Sequence[str]) -> dict[str, Any]:
    """One ticket per call: wall and CPU milliseconds (CPU is what contention cannot inflate)."""
    walls, cpus = [], []
    for text in texts:
        ticket = TicketText(description=text)
        wall, cpu = time.perf_counter(), time.process_time()
        classifier.classify(ticket)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return {
        "tickets": len(walls),
        "p50_ms": round(float(np.percentile(walls, 50)), 3),
        "p95_ms": round(float(np.percentile(walls, 95)), 3),
        "max_ms": round(max(walls), 3),
        "cpu_p50_ms": round(float(np.percentile(cpus, 50)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpus, 95)), 3),
    }
