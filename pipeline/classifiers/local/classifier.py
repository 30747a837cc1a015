"""The offline classifier: a local TF-IDF + linear model behind the `Classifier` Protocol."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from pipeline.classifiers.local.language import DEFAULT_GLOSSARY, detect_languages
from pipeline.classifiers.local.model import LocalModel, ModelFileError
from pipeline.classifiers.local.model_file import (
    FORMAT_VERSION,
    model_bytes,
    read_model,
    write_model,
)
from pipeline.classifiers.local.sentiment import (
    SentimentReading,
    normalise_sentiment,
    rule_sentiment,
)
from pipeline.classifiers.local.text_features import ticket_text
from pipeline.classifiers.local.urgency import normalise_urgency, rule_urgency
from pipeline.classifiers.offline import OfflineCalls
from pipeline.domain.classification import (
    Alternative,
    Classification,
    Sentiment,
    TicketText,
    Urgency,
)
from pipeline.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from pipeline.classifiers.local.labelled_examples import LabelledExample
    from pipeline.data.samples import SampleTicket

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 200
# Rule urgency: a phrase that fired ("outage", "asap") is a stated cue; the default is only
# the absence of one.
RULE_CUE_CONFIDENCE = 0.8
RULE_DEFAULT_CONFIDENCE = 0.6
REASON_TERMS = 3
ALTERNATIVES = 3  # runners-up kept in the audit for reviewers


class LocalClassifier(OfflineCalls):
    """Category, urgency, language and a calibrated confidence from a local model file."""

    name = "local"

    def __init__(self, model: LocalModel) -> None:
        self.model = model
        self.model_version = model.version
        self.labels: tuple[str, ...] = tuple(model.category.labels)
        # Reasons name words where possible: character n-grams read badly; the sentence
        # vector's columns (kind embedding) never make a reason.
        self._terms = [t for block in model.blocks for t in block.terms]
        self._terms += [""] * model.encoder_dimension
        self._readable = np.concatenate(
            [np.full(len(b.terms), b.analyzer == "word") for b in model.blocks]
            + [np.zeros(model.encoder_dimension, dtype=bool)]
        )
        stored = model.info.get("review_threshold")
        # The confidence below which this model's decisions go to review, from its training.
        self.review_threshold: float | None = None if stored is None else float(stored)

    def needs_review(self, decision: Classification) -> bool:
        """Whether the model's own review threshold sends this decision to a person."""
        return self.review_threshold is not None and decision.confidence < self.review_threshold

    def training_overlap(self, examples: Sequence[TicketText | LabelledExample]) -> int:
        """How many of these tickets share a template with the model's training rows."""
        if self.model.fingerprint is None:
            return 0
        return self.model.fingerprint.overlap(
            [ticket_text(e.subject, e.description) for e in examples]
        )

    def classify(self, ticket: TicketText) -> Classification:
        """Classify one ticket."""
        return self.classify_many([ticket])[0]

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Classify a batch: one feature transform and one matrix product for all tickets."""
        if not tickets:
            return []
        texts = [ticket_text(t.subject, t.description) for t in tickets]
        x = self.model.features(texts)
        probabilities = self.model.category.probabilities(self.model.category.scores(x))
        chosen = probabilities.argmax(axis=1)
        confidence = probabilities[np.arange(len(texts)), chosen]
        urgencies = self._urgencies(x, texts)
        sentiments = self._sentiments(x, texts)
        terms = self._top_terms(x, chosen)
        languages = detect_languages(texts)
        decisions = []
        for i in range(len(texts)):
            label = self.labels[chosen[i]]
            urgency, trigger, urgency_confidence = urgencies[i]
            sentiment = sentiments[i]
            decisions.append(
                Classification(
                    category=label,
                    urgency=urgency,
                    urgency_confidence=urgency_confidence,
                    sentiment=sentiment.sentiment,
                    sentiment_confidence=sentiment.confidence,
                    language=languages[i],
                    confidence=float(np.clip(confidence[i], 0.0, 1.0)),
                    reason=_reason(label, terms[i], urgency, trigger),
                    alternatives=self._runners_up(probabilities[i], chosen[i]),
                    classifier=self.name,
                    model=self.model_version,
                )
            )
        return decisions

    def _runners_up(self, row: np.ndarray, chosen: int) -> tuple[Alternative, ...]:
        order = [int(j) for j in np.argsort(row)[::-1] if j != chosen][:ALTERNATIVES]
        return tuple(
            Alternative(category=self.labels[j], score=round(float(np.clip(row[j], 0, 1)), 4))
            for j in order
        )

    def probabilities(self, tickets: Sequence[TicketText]) -> np.ndarray:
        """Calibrated probability of every label (columns in `labels` order) per ticket."""
        x = self.model.features([ticket_text(t.subject, t.description) for t in tickets])
        return self.model.category.probabilities(self.model.category.scores(x))

    def _urgencies(
        self, x: sp.csr_matrix, texts: list[str]
    ) -> list[tuple[Urgency, str | None, float]]:
        head = self.model.urgency
        if head is None:
            # A rule that fired is a stated cue; the default is only the absence of one.
            return [
                (level, trigger, RULE_CUE_CONFIDENCE if trigger else RULE_DEFAULT_CONFIDENCE)
                for level, trigger in map(rule_urgency, texts)
            ]
        probabilities = head.probabilities(head.scores(x))
        found = probabilities.argmax(axis=1)
        return [
            (normalise_urgency(head.labels[j]) or Urgency.normal, None, float(probabilities[i, j]))
            for i, j in enumerate(found)
        ]

    def _sentiments(self, x: sp.csr_matrix, texts: list[str]) -> list[SentimentReading]:
        head = self.model.sentiment
        if head is None:
            return [rule_sentiment(t) for t in texts]
        probabilities = head.probabilities(head.scores(x))
        found = probabilities.argmax(axis=1)
        return [
            SentimentReading(
                normalise_sentiment(head.labels[j]) or Sentiment.neutral,
                round(float(probabilities[i, j]), 3),
            )
            for i, j in enumerate(found)
        ]

    def _top_terms(self, x: sp.csr_matrix, chosen: np.ndarray) -> list[list[str]]:
        # Each present feature's contribution to its row's chosen label, for the whole batch;
        # a row names its best words, or its best character n-grams if no word helped.
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        gain = x.data * self.model.category.weights[x.indices, chosen[rows]]
        readable = self._readable[x.indices]
        helped = (gain > 0) & (x.indices < len(self._terms) - self.model.encoder_dimension)
        has_words = np.bincount(rows[helped & readable], minlength=x.shape[0]) > 0
        keep = helped & (readable | ~has_words[rows])
        rows, gain, index = rows[keep], gain[keep], x.indices[keep]
        order = np.lexsort((-gain, rows))
        rows, index = rows[order], index[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
        top = rank < REASON_TERMS
        rows, index = rows[top], index[top]
        bounds = np.searchsorted(rows, np.arange(x.shape[0] + 1))
        terms = [self._terms[j].strip() for j in index.tolist()]
        return [terms[a:b] for a, b in itertools.pairwise(bounds.tolist())]


def _reason(label: str, terms: list[str], urgency: Urgency, trigger: str | None) -> str:
    """A short explanation: the terms that weighed most, and the urgency trigger if any."""
    quoted = ", ".join(f'"{t[:24]}"' for t in terms if t) or "no strong terms"
    text = f"{label[:40]}: {quoted}"
    if trigger:
        text += f'; urgency {urgency.value}: "{trigger[:30]}"'
    return text[:MAX_REASON_CHARS]


def cache_dir() -> Path:
    """Where models built on first use are kept: `$XDG_CACHE_HOME/ticket-triage`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ticket-triage"


def sample_examples() -> list[LabelledExample]:
    """The project's own training samples (the held-out 20% excluded) as examples."""
    from pipeline.data.samples import training_samples

    try:
        samples = training_samples()
    except FileNotFoundError as exc:
        raise ConfigurationError(
            "no TRIAGE_LOCAL_MODEL is set and the bundled sample tickets are missing"
        ) from exc
    return [sample_as_example(s) for s in samples]


def sample_as_example(sample: SampleTicket) -> LabelledExample:
    """One bundled sample ticket as a labelled training example."""
    from pipeline.classifiers.local.labelled_examples import LabelledExample

    return LabelledExample(
        subject=sample.subject,
        description=sample.description,
        category=sample.category,
        urgency=normalise_urgency(sample.urgency),
    )


def default_model_path(examples: Sequence[LabelledExample], directory: Path) -> Path:
    """The cache file for a model of these examples under these library versions."""
    import sklearn

    from pipeline.classifiers.local.training import RECIPE

    key = hashlib.sha256()
    glossary = json.dumps(DEFAULT_GLOSSARY, sort_keys=True)
    for part in (RECIPE, str(FORMAT_VERSION), sklearn.__version__, np.__version__, glossary):
        key.update(part.encode() + b"\0")
    for example in examples:
        key.update(repr(example).encode() + b"\0")
    return directory / f"samples-{key.hexdigest()[:16]}.model"


_build_lock = threading.Lock()


def cached_model(
    examples_source: Callable[[], list[LabelledExample]] = sample_examples,
    directory: Path | None = None,
) -> LocalModel:
    """The model of these examples from the cache, trained and cached on first use."""
    from pipeline.classifiers.local import training
    from pipeline.classifiers.local.labelled_examples import TrainingError

    examples = examples_source()
    path = default_model_path(examples, directory or cache_dir())
    with _build_lock:  # threads of one worker train once; processes race harmlessly
        if path.exists():
            try:
                return read_model(path)
            except ModelFileError as exc:
                log.warning("rebuilding the cached local model: %s", exc)
        try:
            model, report = training.train_model(examples)
        except TrainingError as exc:
            raise ConfigurationError(f"cannot train the default local model: {exc}") from exc
        try:
            write_model(model, path)
        except OSError as exc:  # a read-only home: keep the model in memory only
            log.warning("cannot cache the local model at %s: %s", path, exc)
            model.sha256 = model_bytes(model)[1]
        log.info("trained the default local model on %d samples: %s", len(examples), report)
        return model


def load_local_classifier(
    path: Path | str | None, expected_sha256: str | None = None
) -> LocalClassifier:
    """The model file at `path`, or (None) the model of the bundled samples, built on first use.

    `expected_sha256` pins the file: any other content is refused, whatever its own hash says.
    """
    if path is None:
        return LocalClassifier(cached_model())
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelFileError(f"local model file {path} does not exist")
    return LocalClassifier(read_model(path, expected_sha256))
