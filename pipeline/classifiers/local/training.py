"""Training the local model: pure functions over lists of labelled examples (scikit-learn).

Recipe: texts normalised (lower case, numbers and URLs as placeholders) and given the English
words of the foreign support terms they hold (`language.Glossary`); word 1-2-grams and
character 2-5-grams (within word boundaries), sublinear TF-IDF; one-vs-rest linear SVMs; one
softmax temperature fitted on a held-back split (per label, each template on one side:
`near_duplicates`), which also gives `val_accuracy` and the stored review threshold.
The written model keeps the split's vocabulary, idf and temperature. Below 5,000 examples it
refits its weights on every example (small sets gain most from the extra 20%, and refitting
them is cheap), so `val_accuracy` slightly understates it; larger sets keep the validated
split model as it is, which keeps training at 10,000 tickets and 80 labels under a minute.
Features are fitted in `feature_fitting`; scoring a classifier is `evaluation`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from pipeline.classifiers.local.evaluation import score_predictions, threshold_for_precision
from pipeline.classifiers.local.feature_fitting import feature_budget, fit_blocks
from pipeline.classifiers.local.labelled_examples import (
    LabelledExample,
    check_examples,
    data_fingerprint,
)
from pipeline.classifiers.local.language import DEFAULT_GLOSSARY, Glossary
from pipeline.classifiers.local.model import (
    LinearHead,
    LocalModel,
    featurize,
    join_embeddings,
    prepare,
    softmax,
)
from pipeline.classifiers.local.near_duplicates import Fingerprint, grouped_split
from pipeline.classifiers.local.sentiment import rule_sentiment
from pipeline.classifiers.local.urgency import rule_urgency
from pipeline.domain.classification import Urgency

# /3: the template-grouped split and the stored review threshold; /4: its fingerprint.
# Bump the suffix whenever what a model file holds changes (features, heads, the template
# key of its training-row fingerprint): cached default models of an older recipe retrain.
RECIPE = "glossary-tfidf-word12-char25-linearsvc-temperature/4"
MIN_URGENCY_EXAMPLES = 20
LABEL_SMOOTHING = 0.005  # keeps a perfectly separated validation split from driving T to 0
REFIT_BELOW = 5_000  # smaller sets are refit on every example after validation
KINDS = ("ngram", "embedding")
# Kind embedding: the sentence vector's scale beside the two unit-length n-gram blocks.
ENCODER_WEIGHT = 1.0


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
    sentiment_source: str = "rules"
    sentiment_val_accuracy: float | None = None
    sentiment_rules_val_accuracy: float | None = None
    n_features: int = 0
    seconds: float = 0.0
    kind: str = "ngram"
    refit: bool = False  # the weights were refit on every example after validation
    grouped_rows: int = 0  # rows sharing a template with another row, kept on one side
    groups: int = 0
    # The lowest confidence at which the held-back split's decisions reach the target precision.
    target_precision: float | None = None
    review_threshold: float | None = None
    review_coverage: float | None = None
    review_precision: float | None = None
    val_rows: list[int] = field(default_factory=list)


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


def _heads(
    features: Any, examples: Sequence[LabelledExample], rows: Sequence[int], seed: int
) -> tuple[LinearHead, LinearHead | None]:
    category = fit_head(features[rows], [examples[i].category for i in rows], seed)
    known = [i for i in rows if examples[i].urgency is not None]
    if len(known) < MIN_URGENCY_EXAMPLES or len({examples[i].urgency for i in known}) < 2:
        return category, None
    return category, fit_head(features[known], [str(examples[i].urgency) for i in known], seed)


def _sentiment_head(
    features: Any,
    examples: Sequence[LabelledExample],
    texts: Sequence[str],
    split: tuple[Sequence[int], Sequence[int]],
    seed: int,
) -> tuple[LinearHead | None, float | None, float | None]:
    """A learned sentiment head where the data has one and it beats the rules on validation.

    Returns (head or None, its validation accuracy, the rules' validation accuracy).
    """
    train_idx, val_idx = split
    known = [i for i in train_idx if examples[i].sentiment is not None]
    if len(known) < MIN_URGENCY_EXAMPLES or len({examples[i].sentiment for i in known}) < 2:
        return None, None, None
    head = fit_head(features[known], [str(examples[i].sentiment) for i in known], seed)
    checked = [i for i in val_idx if examples[i].sentiment is not None]
    if not checked:
        return head, None, None
    truth = [str(examples[i].sentiment) for i in checked]
    rules = _agreement(truth, [str(rule_sentiment(texts[i]).sentiment) for i in checked])
    learned = _agreement(truth, [head.labels[j] for j in head.scores(features[checked]).argmax(1)])
    if learned < rules:
        return None, learned, rules
    everyone = [i for i in (*train_idx, *val_idx) if examples[i].sentiment is not None]
    return (
        fit_head(features[everyone], [str(examples[i].sentiment) for i in everyone], seed),
        (learned),
        rules,
    )


def _agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


# What train_model tells `on_step`, in order (the refit is skipped for large sets).
TRAINING_STEPS = ("preparing texts", "fitting features", "fitting heads", "validating", "refit")


def train_model(
    examples: Sequence[LabelledExample],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    glossary: Mapping[str, str] | None = DEFAULT_GLOSSARY,
    on_step: Callable[[str], None] | None = None,
    kind: str = "ngram",
    target_precision: float | None = 0.9,
) -> tuple[LocalModel, TrainingReport]:
    """Validate on a held-back split, then refit on all examples; the model is not yet saved.

    The split keeps every copy of a template on one side (`near_duplicates`). `glossary`
    (foreign term -> English word) is stored in the model; None turns it off. `kind`
    `embedding` adds the installed sentence encoder's vectors to the n-gram features.
    `target_precision`: the model stores the lowest confidence at which the held-back
    decisions are that precise, its review threshold. `on_step` is told each of
    TRAINING_STEPS as it begins (a progress display).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    step = on_step or (lambda _name: None)
    started = time.perf_counter()
    step(TRAINING_STEPS[0])
    labels = check_examples(examples)
    texts = [e.text() for e in examples]
    split = grouped_split(texts, [e.category for e in examples], val_fraction, seed)
    train_idx, val_idx = split.train, split.val
    terms = None if glossary is None else Glossary(glossary)
    prepared = prepare(texts, terms)
    # Vocabulary and idf come from the training split only, so validation stays honest; the
    # final model keeps them (one pass over the texts) and refits only its weights on all rows.
    budget = feature_budget(len(labels) + len(Urgency))
    step(TRAINING_STEPS[1])
    blocks = fit_blocks([prepared[i] for i in train_idx], budget)
    features = featurize(blocks, prepared)
    encoder = None
    if kind == "embedding":
        from pipeline.classifiers.local.embeddings import load_encoder

        encoder = load_encoder()
        features = join_embeddings(features, encoder.encode(texts), ENCODER_WEIGHT)
    step(TRAINING_STEPS[2])
    category, urgency = _heads(features, examples, train_idx, seed)
    step(TRAINING_STEPS[3])
    temperature, val_acc, val_f1, urgency_acc, rules_acc = 1.0, None, None, None, None
    operating = None
    if val_idx:
        scores = category.scores(features[val_idx])
        truth = [examples[i].category for i in val_idx]
        temperature = fit_temperature(scores, np.array([category.labels.index(t) for t in truth]))
        result = score_predictions(truth, [category.labels[i] for i in scores.argmax(axis=1)])
        val_acc, val_f1 = result.accuracy, result.macro_f1
        if target_precision is not None:
            probabilities = softmax(scores / temperature)
            chosen = probabilities.argmax(axis=1)
            correct = [category.labels[j] == t for j, t in zip(chosen, truth, strict=True)]
            confidence = probabilities[np.arange(len(truth)), chosen]
            operating = threshold_for_precision(confidence, correct, target_precision)
        known = [i for i in val_idx if examples[i].urgency is not None]
        if known:
            truth = [str(examples[i].urgency) for i in known]
            rules_acc = _agreement(truth, [str(rule_urgency(texts[i])[0]) for i in known])
            if urgency is not None:
                found = urgency.scores(features[known]).argmax(axis=1)
                urgency_acc = _agreement(truth, [urgency.labels[i] for i in found])
    refit = bool(val_idx) and len(examples) < REFIT_BELOW
    if refit:
        step(TRAINING_STEPS[4])
        category, urgency = _heads(features, examples, range(len(examples)), seed)
    category.temperature = temperature
    # The learned urgency is kept only where it did at least as well as the rules.
    if urgency is not None and rules_acc is not None and (urgency_acc or 0.0) < rules_acc:
        urgency = None
    sentiment, sentiment_acc, sentiment_rules_acc = _sentiment_head(
        features, examples, texts, (train_idx, val_idx), seed
    )
    model = LocalModel(blocks, category, urgency, {}, terms, sentiment=sentiment)
    model.fingerprint = Fingerprint.of(texts)
    if encoder is not None:
        model.encoder, model.encoder_dimension = encoder.ref, encoder.dimension
        model.encoder_weight = ENCODER_WEIGHT
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
        sentiment_source="model" if sentiment is not None else "rules",
        sentiment_val_accuracy=sentiment_acc,
        sentiment_rules_val_accuracy=sentiment_rules_acc,
        n_features=model.n_features,
        seconds=time.perf_counter() - started,
        kind=kind,
        refit=refit,
        grouped_rows=split.grouped_rows,
        groups=split.groups,
        target_precision=target_precision,
        review_threshold=None if operating is None else operating.threshold,
        review_coverage=None if operating is None else operating.coverage,
        review_precision=None if operating is None else operating.precision,
        val_rows=list(val_idx),
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
        "validation": {
            k: v for k, v in asdict(report).items() if k not in ("labels", "seconds", "val_rows")
        },
        # What the local classifier sends to review below (None: the configured threshold).
        "review_threshold": report.review_threshold,
    }
    return model, report
