"""The stored review threshold: held-out precision and coverage, and where it sends tickets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.classifiers.cascade import CascadeClassifier
from pipeline.classifiers.local.classifier import LocalClassifier
from pipeline.classifiers.local.evaluation import operating_point
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.near_duplicates import grouped_split
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import TicketText
from pipeline.stages.classify import own_review_reason

BITEXT = Path(__file__).resolve().parents[4].parent / "shared/data/bitext/bitext-v1.jsonl"


@pytest.fixture(scope="module")
def held_out() -> tuple[LocalClassifier, list[LabelledExample]]:
    """A model of a third of Bitext's intents; a template-disjoint 20% held out from it."""
    if not BITEXT.is_file():
        pytest.skip(f"Bitext sample not found at {BITEXT}")
    rows = [json.loads(line) for line in BITEXT.read_text(encoding="utf-8").splitlines()][::3]
    examples = [LabelledExample(description=r["description"], category=r["intent"]) for r in rows]
    split = grouped_split([e.text() for e in examples], [e.category for e in examples], 0.2, 11)
    model, report = train_model([examples[i] for i in split.train], target_precision=0.9)
    assert report.review_threshold is not None
    return LocalClassifier(model), [examples[i] for i in split.val]


def test_decisions_above_the_stored_threshold_are_90_percent_precise(
    held_out: tuple[LocalClassifier, list[LabelledExample]],
) -> None:
    classifier, test = held_out
    decisions = classifier.classify_many([TicketText(description=e.description) for e in test])
    point = operating_point(
        [d.confidence for d in decisions],
        [d.category == e.category for d, e in zip(decisions, test, strict=True)],
        classifier.review_threshold or 0.0,
    )
    assert point.precision is not None and point.precision >= 0.9
    assert point.coverage >= 0.6


def test_below_the_threshold_a_local_decision_goes_to_review(
    held_out: tuple[LocalClassifier, list[LabelledExample]],
) -> None:
    classifier, _ = held_out
    threshold = classifier.review_threshold or 0.0
    decision = classifier.classify(TicketText(description="zzqx wobble frm"))
    unsure = decision.model_copy(update={"confidence": threshold / 2})
    sure = decision.model_copy(update={"confidence": min(1.0, threshold + 0.01)})
    assert classifier.needs_review(unsure) and not classifier.needs_review(sure)
    assert "review threshold" in (own_review_reason(classifier, unsure) or "")
    assert own_review_reason(classifier, sure) is None
    # An LLM's decision is judged by the configured threshold only, at routing.
    llm = unsure.model_copy(update={"classifier": "gemini"})
    assert own_review_reason(classifier, llm) is None
    # The cascade asks the LLM below the model's threshold even if the configured one is lower.
    cascade = CascadeClassifier(classifier, classifier, threshold=0.0)
    assert not cascade.is_sure(unsure) and cascade.is_sure(sure)
