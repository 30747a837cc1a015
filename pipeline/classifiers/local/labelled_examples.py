"""Labelled examples: a ticket with its labels, and what training asks of a set of them.

A set needs at least 2 labels, each of 1 to `MAX_LABEL_CHARS` characters; it is split per label
for validation, and its fingerprint names the data a model learned. No scikit-learn here.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.classifiers.local.model import MAX_LABEL_CHARS
from pipeline.classifiers.local.text_features import ticket_text
from pipeline.domain.classification import Sentiment, Urgency


class TrainingError(ValueError):
    """The examples cannot train a model (too few labels, unusable labels, no text)."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One ticket with its category and, when known, its urgency and sentiment."""

    description: str
    category: str
    subject: str = ""
    urgency: Urgency | None = None
    sentiment: Sentiment | None = None

    def text(self) -> str:
        """What the model reads."""
        return ticket_text(self.subject, self.description)


def stratified_split(
    labels: Sequence[str], val_fraction: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Indices for training and validation, per label; a label seen once only trains."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for label in sorted(by_label):
        idx = [int(i) for i in rng.permutation(by_label[label])]
        n_val = min(max(round(len(idx) * val_fraction), 1), len(idx) - 1) if val_fraction else 0
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def check_examples(examples: Sequence[LabelledExample]) -> list[str]:
    """The sorted label set, after refusing examples a model cannot learn from."""
    labels = Counter(e.category for e in examples)
    bad = [label for label in labels if not label.strip() or len(label) > MAX_LABEL_CHARS]
    if bad:
        raise TrainingError(f"labels must be 1 to {MAX_LABEL_CHARS} characters: {bad[:3]!r}")
    if len(labels) < 2:
        raise TrainingError(f"need at least 2 labels to train, found {len(labels)}")
    return sorted(labels)


def data_fingerprint(examples: Sequence[LabelledExample]) -> str:
    """SHA-256 of the examples, to name a model by the data it learned."""
    digest = hashlib.sha256()
    for e in examples:
        urgency = e.urgency.value if e.urgency else ""
        fields: tuple[str, ...] = (e.subject, e.description, e.category, urgency)
        if e.sentiment is not None:  # older data (no sentiment) keeps its fingerprint
            fields += (e.sentiment.value,)
        digest.update("\x1f".join(fields).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()
