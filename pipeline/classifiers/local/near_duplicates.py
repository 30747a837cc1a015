"""Near-duplicate tickets: one template key per text, a split that keeps each template on one
side, and a compact fingerprint of a model's training rows.

The template key is the normalised text (lower case, numbers, URLs and e-mail addresses as
placeholders) with capitalised names and punctuation masked and spaces collapsed: "Cancel
order 1234, Anna" and "cancel order 98, Bob!" share one. Templated data split at random puts
copies of a template on both sides, so validation reads it back and reports near 1.000.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.classifiers.local.text_features import normalise_text

# A capitalised word after the text's first word, such as a customer's name, becomes `_name_`.
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_PUNCTUATION = re.compile(r"[^\w]+")
FINGERPRINT_MAX_ROWS = 100_000  # 800 kB at most; above it, a bottom-k sketch


def template_key(text: str) -> str:
    """The text with what varies between copies of a template masked."""
    masked = _NAME.sub(" _name_ ", text.strip())
    return " ".join(_PUNCTUATION.sub(" ", normalise_text(masked)).split())


def key_hash(key: str) -> int:
    """A 63-bit hash of a template key (stable across processes and platforms)."""
    return (
        int.from_bytes(
            hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest(), "little"
        )
        >> 1
    )


@dataclass(frozen=True)
class GroupedSplit:
    """Training and validation indices, and how many rows shared a template with another."""

    train: list[int]
    val: list[int]
    grouped_rows: int
    groups: int


def grouped_split(
    texts: Sequence[str], labels: Sequence[str], val_fraction: float, seed: int = 0
) -> GroupedSplit:
    """A split per label in which every copy of a template lands on the same side.

    A template is assigned to the label most of its rows carry; each label sends about
    `val_fraction` of its rows to validation, whole templates at a time, keeping at least one
    template for training.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        members[template_key(text)].append(i)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for rows in members.values():
        label = Counter(labels[i] for i in rows).most_common(1)[0][0]
        by_label[label].append(rows)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for label in sorted(by_label):
        groups = by_label[label]
        order = [int(j) for j in rng.permutation(len(groups))]
        total = sum(len(g) for g in groups)
        target = round(total * val_fraction) if val_fraction else 0
        taken = 0
        chosen: set[int] = set()
        for rank, j in enumerate(order):
            size = len(groups[j])
            if taken < target and rank < len(order) - 1 and taken + size <= max(target, 1) * 1.5:
                chosen.add(j)
                taken += size
        if not chosen and target and len(groups) > 1:  # large templates: the smallest one
            chosen.add(min(range(len(groups)), key=lambda j: (len(groups[j]), j)))
        for j, rows in enumerate(groups):
            (val if j in chosen else train).extend(rows)
    shared = [rows for rows in members.values() if len(rows) > 1]
    return GroupedSplit(sorted(train), sorted(val), sum(len(r) for r in shared), len(shared))


@dataclass(frozen=True)
class Fingerprint:
    """Sorted 63-bit hashes of the training rows' template keys (all, or the smallest k)."""

    hashes: np.ndarray  # uint64, sorted, unique
    rows: int  # distinct templates in the training data

    @classmethod
    def of(cls, texts: Iterable[str]) -> Fingerprint:
        """The fingerprint of training texts."""
        unique = np.unique(np.array([key_hash(template_key(t)) for t in texts], dtype=np.uint64))
        return cls(unique[:FINGERPRINT_MAX_ROWS], len(unique))

    def overlap(self, texts: Sequence[str]) -> int:
        """How many of `texts` share a template with a training row (estimated when sketched)."""
        if not len(self.hashes) or not texts:
            return 0
        found = np.array([key_hash(template_key(t)) for t in texts], dtype=np.uint64)
        pos = np.minimum(np.searchsorted(self.hashes, found), len(self.hashes) - 1)
        hit = self.hashes[pos] == found
        if len(self.hashes) >= self.rows:
            return int(hit.sum())
        # Bottom-k sketch: only hashes up to the largest kept one can be decided.
        decidable = found <= self.hashes[-1]
        if not decidable.any():
            return 0
        return round(int(hit.sum()) * len(found) / int(decidable.sum()))
