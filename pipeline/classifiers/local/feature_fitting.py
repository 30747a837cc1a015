"""Fitting the local model's features: the vocabulary and idf of each block, from texts.

The feature budget shrinks as labels grow, so the weights stay about the same size; the most
widespread n-grams are kept (ties broken by term or hash, so fitting is deterministic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from pipeline.classifiers.local.labelled_examples import TrainingError
from pipeline.classifiers.local.model import FeatureBlock
from pipeline.classifiers.local.text_features import char_grams, word_grams

MAX_FEATURES = 300_000
WEIGHT_BUDGET = 9_000_000  # float32 weights: about 36 MB of weights whatever the label count
CHUNK = 2000  # texts per pass when counting character n-grams: bounded memory on long e-mails
# (name, analyzer, n-gram range, share of the feature budget)
BLOCKS = (("word", "word", (1, 2), 0.4), ("char", "char_wb", (2, 5), 0.6))


def feature_budget(n_outputs: int) -> int:
    """How many features the model may keep so its weights stay small with many labels."""
    return max(20_000, min(MAX_FEATURES, WEIGHT_BUDGET // max(n_outputs, 1)))


def _top_terms(df: Counter[str], max_features: int, min_df: int) -> tuple[list[str], np.ndarray]:
    # The most widespread terms; ties broken by the term so training is deterministic.
    ranked = sorted((item for item in df.items() if item[1] >= min_df), key=lambda t: (-t[1], t[0]))
    terms = [term for term, _ in ranked[:max_features]]
    return terms, np.array([df[t] for t in terms], dtype=np.float64)


def _word_df(texts: Sequence[str], ngram_range: tuple[int, int]) -> Counter[str]:
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(word_grams(text, ngram_range)))
    return df


def _char_terms(
    texts: Sequence[str], ngram_range: tuple[int, int], max_features: int, min_df: int
) -> tuple[list[str], np.ndarray]:
    # Document frequencies are counted on hashes in numpy; strings are read back only for the
    # kept terms (a Python loop over every distinct n-gram costs seconds on large sets).
    hashes, counts, chunk_of, starts, sizes, joined = [], [], [], [], [], []
    for chunk, begin in enumerate(range(0, len(texts), CHUNK)):
        grams = char_grams(texts[begin : begin + CHUNK], ngram_range)
        # Each n-gram once per text: sort by (text, hash), keep the first of each run.
        order = np.lexsort((grams.hashes, grams.docs))
        h, d = grams.hashes[order], grams.docs[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = (h[1:] != h[:-1]) | (d[1:] != d[:-1])
        unique, where, count = np.unique(h[first], return_index=True, return_counts=True)
        occurrence = order[first][where]
        hashes.append(unique)
        counts.append(count)
        chunk_of.append(np.full(len(unique), chunk))
        starts.append(grams.starts[occurrence])
        sizes.append(grams.sizes[occurrence])
        joined.append(grams.joined)
    h = np.concatenate(hashes)
    order = np.argsort(h, kind="stable")
    h = h[order]
    groups = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    df = np.add.reduceat(np.concatenate(counts)[order], groups)
    first_seen = order[groups]
    eligible = np.flatnonzero(df >= min_df)
    # Most widespread first; ties broken by hash, so training is deterministic.
    ranked = eligible[np.lexsort((h[groups][eligible], -df[eligible]))][:max_features]
    chunks, begins = np.concatenate(chunk_of)[first_seen], np.concatenate(starts)[first_seen]
    lengths = np.concatenate(sizes)[first_seen]
    terms = [
        joined[c][b : b + n]
        for c, b, n in zip(
            chunks[ranked].tolist(), begins[ranked].tolist(), lengths[ranked].tolist(), strict=True
        )
    ]
    return terms, df[ranked].astype(np.float64)


def fit_blocks(clean: Sequence[str], budget: int) -> list[FeatureBlock]:
    """Learn vocabularies (most widespread n-grams) and idf of the blocks from prepared texts."""
    min_df = 2 if len(clean) >= 200 else 1  # a term seen once in a large set is mostly noise
    blocks = []
    for name, analyzer, ngrams, share in BLOCKS:
        if analyzer == "word":
            terms, counts = _top_terms(_word_df(clean, ngrams), int(budget * share), min_df)
        else:
            terms, counts = _char_terms(clean, ngrams, int(budget * share), min_df)
        if not terms:
            raise TrainingError("the examples have no usable text")
        idf = np.log((1 + len(clean)) / (1 + counts)) + 1.0  # sklearn's smoothed idf
        blocks.append(FeatureBlock(name, analyzer, ngrams, terms, idf.astype(np.float32)))
    return blocks
