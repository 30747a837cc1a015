"""Training and evaluating the local model: pure functions over lists of labelled examples.

Recipe: texts normalised (lower case, numbers and URLs as placeholders) and given the English
words of the foreign support terms they hold (`language.Glossary`); word 1-2-grams and
character 2-5-grams (within word boundaries), sublinear TF-IDF; one-vs-rest linear SVMs; one
softmax temperature fitted on a held-back stratified split, which also gives `val_accuracy`.
The written model keeps the split's vocabulary, idf and temperature. Below 5,000 examples it
refits its weights on every example (small sets gain most from the extra 20%, and refitting
them is cheap), so `val_accuracy` slightly understates it; larger sets keep the validated
split model as it is, which keeps training at 10,000 tickets and 80 labels under a minute.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from pipeline.classification import Classifier, TicketText, Urgency
from pipeline.classifiers.language import DEFAULT_GLOSSARY, Glossary
from pipeline.classifiers.model_file import (
    MAX_LABEL_CHARS,
    FeatureBlock,
    LinearHead,
    LocalModel,
    char_grams,
    featurize,
    prepare,
    softmax,
    ticket_text,
    word_grams,
)
from pipeline.classifiers.urgency import rule_urgency

RECIPE = "glossary-tfidf-word12-char25-linearsvc-temperature/2"
MAX_FEATURES = 300_000
WEIGHT_BUDGET = 9_000_000  # float32 weights: about 36 MB of weights whatever the label count
MIN_URGENCY_EXAMPLES = 20
LABEL_SMOOTHING = 0.005  # keeps a perfectly separated validation split from driving T to 0
CHUNK = 2000  # texts per pass when counting character n-grams: bounded memory on long e-mails
REVIEW_THRESHOLD = 0.55  # the pipeline's default confidence threshold
REFIT_BELOW = 5_000  # smaller sets are refit on every example after validation
# (name, analyzer, n-gram range, share of the feature budget)
BLOCKS = (("word", "word", (1, 2), 0.4), ("char", "char_wb", (2, 5), 0.6))


class TrainingError(ValueError):
    """The examples cannot train a model (too few labels, unusable labels, no text)."""


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One ticket with its category and, when known, its urgency."""

    description: str
    category: str
    subject: str = ""
    urgency: Urgency | None = None

    def text(self) -> str:
        """What the model reads."""
        return ticket_text(self.subject, self.description)


@dataclass
class TrainingReport:
    """What training did and how well the held-back split was classified."""

    labels: list[str]
    trained_on: int
    val_size: int
    val_accuracy: float | None
    val_macro_f1: float | None
    temperature: float
    urgency_source: str
    urgency_val_accuracy: float | None = None
    rules_val_accuracy: float | None = None
    n_features: int = 0
    seconds: float = 0.0


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


def fit_head(x: Any, targets: Sequence[str], seed: int = 0) -> LinearHead:
    """One-vs-rest linear SVMs as a (features x labels) weight matrix."""
    model = LinearSVC(C=1.0, random_state=seed, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # near-converged is fine here
        model.fit(x, list(targets))
    weights, bias = model.coef_.T, model.intercept_
    if weights.shape[1] == 1:  # binary: one score s becomes the pair (-s, s)
        weights, bias = np.hstack([-weights, weights]), np.array([-bias[0], bias[0]])
    labels = [str(label) for label in model.classes_]
    return LinearHead(labels, weights.astype(np.float32), bias.astype(np.float32))


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature that minimises validation log-loss (slightly smoothed)."""
    if len(truth) == 0:
        return 1.0
    rows = np.arange(len(truth))

    def loss(log_t: float) -> float:
        p = np.clip(softmax(scores / np.exp(log_t))[rows, truth], 1e-12, 1 - 1e-12)
        eps = LABEL_SMOOTHING
        return float(-((1 - eps) * np.log(p) + eps * np.log(1 - p)).mean())

    found = minimize_scalar(loss, bounds=(np.log(0.01), np.log(100.0)), method="bounded")
    return float(np.exp(found.x))


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
        fields = (e.subject, e.description, e.category, urgency)
        digest.update("\x1f".join(fields).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _heads(
    features: Any, examples: Sequence[LabelledExample], rows: Sequence[int], seed: int
) -> tuple[LinearHead, LinearHead | None]:
    category = fit_head(features[rows], [examples[i].category for i in rows], seed)
    known = [i for i in rows if examples[i].urgency is not None]
    if len(known) < MIN_URGENCY_EXAMPLES or len({examples[i].urgency for i in known}) < 2:
        return category, None
    return category, fit_head(features[known], [str(examples[i].urgency) for i in known], seed)


def _agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def train_model(
    examples: Sequence[LabelledExample],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    glossary: Mapping[str, str] | None = DEFAULT_GLOSSARY,
) -> tuple[LocalModel, TrainingReport]:
    """Validate on a held-back split, then refit on all examples; the model is not yet saved.

    `glossary` (foreign term -> English word) is stored in the model; None turns it off.
    """
    started = time.perf_counter()
    labels = check_examples(examples)
    train_idx, val_idx = stratified_split([e.category for e in examples], val_fraction, seed)
    texts = [e.text() for e in examples]
    terms = None if glossary is None else Glossary(glossary)
    prepared = prepare(texts, terms)
    # Vocabulary and idf come from the training split only, so validation stays honest; the
    # final model keeps them (one pass over the texts) and refits only its weights on all rows.
    budget = feature_budget(len(labels) + len(Urgency))
    blocks = fit_blocks([prepared[i] for i in train_idx], budget)
    features = featurize(blocks, prepared)
    category, urgency = _heads(features, examples, train_idx, seed)
    temperature, val_acc, val_f1, urgency_acc, rules_acc = 1.0, None, None, None, None
    if val_idx:
        scores = category.scores(features[val_idx])
        truth = [examples[i].category for i in val_idx]
        temperature = fit_temperature(scores, np.array([category.labels.index(t) for t in truth]))
        result = score_predictions(truth, [category.labels[i] for i in scores.argmax(axis=1)])
        val_acc, val_f1 = result.accuracy, result.macro_f1
        known = [i for i in val_idx if examples[i].urgency is not None]
        if known:
            truth = [str(examples[i].urgency) for i in known]
            rules_acc = _agreement(truth, [str(rule_urgency(texts[i])[0]) for i in known])
            if urgency is not None:
                found = urgency.scores(features[known]).argmax(axis=1)
                urgency_acc = _agreement(truth, [urgency.labels[i] for i in found])
    refit = bool(val_idx) and len(examples) < REFIT_BELOW
    if refit:
        category, urgency = _heads(features, examples, range(len(examples)), seed)
    category.temperature = temperature
    # The learned urgency is kept only where it did at least as well as the rules.
    if urgency is not None and rules_acc is not None and (urgency_acc or 0.0) < rules_acc:
        urgency = None
    model = LocalModel(blocks, category, urgency, {}, terms)
    report = TrainingReport(
        labels=labels,
        trained_on=len(examples) if refit or not val_idx else len(train_idx),
        val_size=len(val_idx),
        val_accuracy=val_acc,
        val_macro_f1=val_f1,
        temperature=temperature,
        urgency_source="model" if urgency is not None else "rules",
        urgency_val_accuracy=urgency_acc,
        rules_val_accuracy=rules_acc,
        n_features=model.n_features,
        seconds=time.perf_counter() - started,
    )
    model.info = {
        "recipe": RECIPE,
        "training_size": report.trained_on,
        "examples": len(examples),
        "training_data_sha256": data_fingerprint(examples),
        "library_versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "validation": {k: v for k, v in asdict(report).items() if k not in ("labels", "seconds")},
    }
    return model, report


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
) -> Evaluation:
    """Classify the examples in batches and score the categories (and urgency, if labelled)."""
    tickets = [TicketText(subject=e.subject, description=e.description) for e in examples]
    decisions = []
    for start in range(0, len(tickets), batch_size):
        decisions += classifier.classify_many(tickets[start : start + batch_size])
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
