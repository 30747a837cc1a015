"""The local model in memory: TF-IDF feature blocks, linear heads, and the model joining them.

Blocks and heads check themselves when built, so a model file that parses into inconsistent
parts is refused with `ModelFileError`; reading and writing the file is `model_file`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pipeline.classifiers.local.language import Glossary
from pipeline.classifiers.local.near_duplicates import Fingerprint
from pipeline.classifiers.local.text_features import (
    char_grams,
    normalise_text,
    term_hashes,
    word_grams,
)
from pipeline.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from pipeline.classifiers.local.embeddings import EncoderRef

ANALYZERS = ("word", "char_wb")
MAX_LABEL_CHARS = 64  # what a Classification accepts as a category


class ModelFileError(ConfigurationError):
    """A model file is missing, tampered with, or not in a format this code reads."""


@dataclass
class FeatureBlock:
    """One bag of n-grams with sublinear TF-IDF weights, rebuilt from vocabulary and idf."""

    name: str
    analyzer: str
    ngram_range: tuple[int, int]
    terms: list[str]
    idf: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False)
    _sorted_hashes: np.ndarray = field(init=False, repr=False)
    _hash_order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.analyzer not in ANALYZERS or not 1 <= self.ngram_range[0] <= self.ngram_range[1]:
            raise ModelFileError(f"feature block {self.name!r}: unsupported parameters")
        if len(self.terms) != len(self.idf) or len(set(self.terms)) != len(self.terms):
            raise ModelFileError(f"feature block {self.name!r}: vocabulary and idf disagree")
        self._index = {t: i for i, t in enumerate(self.terms)} if self.analyzer == "word" else {}
        hashes = term_hashes(self.terms) if self.analyzer == "char_wb" else np.zeros(0, np.uint64)
        self._hash_order = np.argsort(hashes, kind="stable")
        self._sorted_hashes = hashes[self._hash_order]

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Term counts of normalised texts (unknown n-grams ignored)."""
        if self.analyzer == "word":
            per_text = [word_grams(text, self.ngram_range) for text in texts]
            rows = [len(g) for g in per_text]
            flat = itertools.chain.from_iterable(per_text)
            get = self._index.get
            cols = np.fromiter(map(get, flat, itertools.repeat(-1)), np.int64, sum(rows))
            doc = np.repeat(np.arange(len(texts)), rows)
        else:
            grams = char_grams(texts, self.ngram_range)
            doc, cols = grams.docs, np.full(len(grams.hashes), -1, dtype=np.int64)
            if self.terms:
                last = len(self.terms) - 1
                pos = np.minimum(np.searchsorted(self._sorted_hashes, grams.hashes), last)
                hit = self._sorted_hashes[pos] == grams.hashes
                cols[hit] = self._hash_order[pos[hit]]
        keep = cols >= 0
        data = np.ones(int(keep.sum()), dtype=np.float32)
        shape = (len(texts), len(self.terms))
        # Duplicate (row, column) pairs add up: that is the count.
        return sp.csr_matrix((data, (doc[keep], cols[keep])), shape=shape)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sublinear-TF x idf rows, L2-normalised, for normalised texts."""
        return weigh(self.counts(texts), self.idf)

    def params(self) -> dict[str, Any]:
        """The header entry describing this block."""
        return {"name": self.name, "analyzer": self.analyzer, "ngram_range": self.ngram_range}


def weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """1 + log(tf), times idf, each row scaled to unit length."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    x.sum_duplicates()
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x.data /= np.repeat(norms, np.diff(x.indptr)).astype(np.float32)
    return x


@dataclass
class LinearHead:
    """A linear scorer over the features: one column of weights and a bias per label."""

    labels: list[str]
    weights: np.ndarray  # (n_features, n_labels), float32
    bias: np.ndarray  # (n_labels,), float32
    temperature: float = 1.0

    def scores(self, x: sp.csr_matrix) -> np.ndarray:
        """Raw decision scores, one row per text."""
        return np.asarray(x @ self.weights) + self.bias

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Temperature-scaled softmax of the scores."""
        return softmax(scores / self.temperature)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large scores."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class LocalModel:
    """Everything the local classifier needs: features, heads, and what it was trained on."""

    blocks: list[FeatureBlock]
    category: LinearHead
    urgency: LinearHead | None
    info: dict[str, Any]
    glossary: Glossary | None = None
    sha256: str = ""
    # Learned only from data that has a sentiment column and beats the rules on it.
    sentiment: LinearHead | None = None
    # Kind `embedding`: the sentence encoder (package and version) whose vectors, times
    # `encoder_weight`, follow the n-gram features; None for kind `ngram`.
    encoder: EncoderRef | None = None
    encoder_dimension: int = 0
    encoder_weight: float = 1.0
    # The template hashes of the training rows (`near_duplicates.Fingerprint`), if recorded.
    fingerprint: Fingerprint | None = None

    @property
    def kind(self) -> str:
        """`ngram` or `embedding`."""
        return "ngram" if self.encoder is None else "embedding"

    @property
    def version(self) -> str:
        """`local-` and the first 12 hex digits of the file hash."""
        return f"local-{self.sha256[:12]}" if self.sha256 else "local-unsaved"

    @property
    def n_features(self) -> int:
        """Width of the feature vector (all blocks side by side)."""
        return sum(len(b.terms) for b in self.blocks) + self.encoder_dimension

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of raw ticket texts (n-grams, then the sentence vector if any)."""
        grams = featurize(self.blocks, prepare(texts, self.glossary))
        if self.encoder is None:
            return grams
        from pipeline.classifiers.local.embeddings import load_encoder  # kind embedding only

        vectors = load_encoder(self.encoder).encode(texts)
        return join_embeddings(grams, vectors, self.encoder_weight)


def join_embeddings(grams: sp.csr_matrix, vectors: np.ndarray, weight: float) -> sp.csr_matrix:
    """N-gram features with the (weighted) sentence vectors as extra dense columns."""
    dense = sp.csr_matrix(np.asarray(vectors, dtype=np.float32) * np.float32(weight))
    return sp.hstack([grams, dense], format="csr")


def prepare(texts: Sequence[str], glossary: Glossary | None) -> list[str]:
    """Normalised texts, with the glossary's English words for foreign support terms."""
    clean = [normalise_text(t) for t in texts]
    return clean if glossary is None else [glossary.expand(t) for t in clean]


def featurize(blocks: Sequence[FeatureBlock], texts: Sequence[str]) -> sp.csr_matrix:
    """The feature matrix of prepared texts: one transform per block, for the whole batch."""
    return sp.hstack([b.transform(texts) for b in blocks], format="csr")
