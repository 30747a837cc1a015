"""The local classifier: accuracy, calibration, label sets, batches, urgency, default model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.classifiers.local import training
from pipeline.classifiers.local.classifier import (
    LocalClassifier,
    cached_model,
    load_local_classifier,
)
from pipeline.classifiers.local.evaluation import evaluate
from pipeline.classifiers.local.labelled_examples import (
    LabelledExample,
    TrainingError,
    stratified_split,
)
from pipeline.classifiers.local.language import DEFAULT_GLOSSARY, Glossary
from pipeline.classifiers.local.model import ModelFileError
from pipeline.classifiers.local.model_file import write_model
from pipeline.classifiers.local.text_features import normalise_text
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import TicketText, Urgency
from pipeline.ports import Classifier

# The repository is checked out next to `shared/`.
BITEXT = Path(__file__).resolve().parents[4].parent / "shared/data/bitext/bitext-v1.jsonl"
GIBBERISH = ["qwxz vbnm plok", "zzzz yyyy xxxx", "lorem ipsum dolor sit amet", "ok", "?!?!", ""]


def bitext_rows() -> list[dict[str, str]]:
    """The Bitext sample, or a skip saying where it was expected."""
    if not BITEXT.is_file():
        pytest.skip(f"Bitext sample not found at {BITEXT} (shared/ is checked out beside the repo)")
    return [json.loads(line) for line in BITEXT.read_text(encoding="utf-8").splitlines()]


def bitext_examples(key: str = "category") -> list[LabelledExample]:
    """Bitext requests labelled by category (11 labels) or intent (27)."""
    return [LabelledExample(description=r["description"], category=r[key]) for r in bitext_rows()]


@pytest.fixture(scope="module")
def split() -> tuple[list[LabelledExample], list[LabelledExample]]:
    """A stratified 80/20 split of Bitext (another seed than training's own split)."""
    examples = bitext_examples()
    train_idx, test_idx = stratified_split([e.category for e in examples], 0.2, seed=7)
    return [examples[i] for i in train_idx], [examples[i] for i in test_idx]


@pytest.fixture(scope="module")
def bitext_classifier(
    split: tuple[list[LabelledExample], list[LabelledExample]],
    tmp_path_factory: pytest.TempPathFactory,
) -> LocalClassifier:
    """Trained on the 80%, written to a file and loaded back, as a worker would."""
    model, _report = train_model(split[0])
    path = tmp_path_factory.mktemp("model") / "bitext.model"
    write_model(model, path)
    return load_local_classifier(path)


def tickets(examples: list[LabelledExample]) -> list[TicketText]:
    return [TicketText(subject=e.subject, description=e.description) for e in examples]


def test_held_out_bitext_accuracy_is_at_least_97_percent(
    bitext_classifier: LocalClassifier, split: tuple[list[LabelledExample], ...]
) -> None:
    result = evaluate(bitext_classifier, split[1])
    assert result.n == len(split[1]) > 1000
    assert result.accuracy >= 0.97
    assert result.macro_f1 >= 0.95


def test_the_glossary_adds_nothing_to_english_bitext() -> None:
    glossary = Glossary(DEFAULT_GLOSSARY)
    texts = [normalise_text(r["description"]) for r in bitext_rows()]
    changed = [t for t in texts if glossary.expand(t) != t]
    assert len(changed) <= len(texts) // 1000  # "cancelation" -> "cancel" is the one known hit


def test_implements_the_classifier_protocol(bitext_classifier: LocalClassifier) -> None:
    assert isinstance(bitext_classifier, Classifier)
    decision = bitext_classifier.classify(
        TicketText(subject="Refund", description="I want my money back for order 1234")
    )
    assert decision.category == "REFUND"
    assert decision.classifier == "local"
    assert decision.model == bitext_classifier.model_version
    assert decision.model.startswith("local-") and len(decision.model) == len("local-") + 12
    assert decision.language == "en"


def test_confidence_is_a_probability_lower_for_gibberish(
    bitext_classifier: LocalClassifier, split: tuple[list[LabelledExample], ...]
) -> None:
    clear = bitext_classifier.classify_many(tickets(split[1][:300]))
    noise = bitext_classifier.classify_many([TicketText(description=t) for t in GIBBERISH])
    for decision in clear + noise:
        assert 0.0 <= decision.confidence <= 1.0
    assert max(d.confidence for d in noise) < 0.55  # the review threshold catches them
    assert np.median([d.confidence for d in clear]) > 0.8
    rows = bitext_classifier.probabilities(tickets(split[1][:20]))
    assert rows.shape == (20, len(bitext_classifier.labels))
    assert np.allclose(rows.sum(axis=1), 1.0, atol=1e-5)


def test_confidence_is_calibrated_when_the_model_makes_mistakes() -> None:
    # Intents learned from 10% of Bitext: enough errors on the rest to measure calibration.
    examples = bitext_examples("intent")
    test_idx, train_idx = stratified_split([e.category for e in examples], 0.1, seed=3)
    model, _ = train_model([examples[i] for i in train_idx])
    result = evaluate(LocalClassifier(model), [examples[i] for i in test_idx])
    assert 0.85 < result.accuracy < 0.995
    assert result.ece is not None and result.ece < 0.06
    assert result.above_threshold_accuracy is not None
    assert result.above_threshold_accuracy > result.accuracy  # the threshold holds back errors


def test_batch_gives_the_same_answers_as_one_by_one(
    bitext_classifier: LocalClassifier, split: tuple[list[LabelledExample], ...]
) -> None:
    batch = tickets(split[1][:40]) + [TicketText(description=t) for t in GIBBERISH]
    together = bitext_classifier.classify_many(batch)
    alone = [bitext_classifier.classify(t) for t in batch]
    assert [d.category for d in together] == [d.category for d in alone]
    assert [d.reason for d in together] == [d.reason for d in alone]
    assert np.allclose([d.confidence for d in together], [d.confidence for d in alone])
    assert bitext_classifier.classify_many([]) == []


FOREIGN = {
    "Ich möchte eine Rückerstattung für meine Bestellung": "REFUND",
    "Je voudrais un remboursement, s'il vous plaît": "REFUND",
    "La livraison de mon colis est en retard": "DELIVERY",
    "J'ai oublié mon mot de passe": "ACCOUNT",
    "He olvidado mi contraseña": "ACCOUNT",
    "Potete inviarmi la fattura?": "INVOICE",
    "Kunt u mij de factuur sturen?": "INVOICE",
    "Quero cancelar a minha encomenda": "ORDER",
}


def test_the_glossary_carries_an_english_model_to_other_languages(
    bitext_classifier: LocalClassifier, split: tuple[list[LabelledExample], ...]
) -> None:
    questions = [TicketText(description=text) for text in FOREIGN]
    with_glossary = [d.category for d in bitext_classifier.classify_many(questions)]
    plain = LocalClassifier(train_model(split[0], glossary=None)[0])
    without = [d.category for d in plain.classify_many(questions)]
    expected = list(FOREIGN.values())
    right = sum(a == b for a, b in zip(with_glossary, expected, strict=True))
    assert right >= len(FOREIGN) - 1
    assert sum(a == b for a, b in zip(without, expected, strict=True)) < right


def test_reason_is_short_and_never_the_whole_ticket(bitext_classifier: LocalClassifier) -> None:
    long_text = "I need to cancel my order and get a refund as soon as possible. " * 60
    decision = bitext_classifier.classify(TicketText(subject="Cancel", description=long_text))
    assert 0 < len(decision.reason) <= 200
    assert long_text[:120] not in decision.reason
    assert decision.urgency is Urgency.high  # "as soon as possible", by the rules
    assert "as soon as possible" in decision.reason


def test_language_and_undetermined(bitext_classifier: LocalClassifier) -> None:
    texts = {
        "Mein Paket ist immer noch nicht angekommen, bitte helfen Sie mir.": "de",
        "Je voudrais annuler ma commande et être remboursé.": "fr",
        "Quiero cancelar mi pedido, por favor.": "es",
        "ok": "und",
        "12345": "und",
    }
    found = bitext_classifier.classify_many([TicketText(description=t) for t in texts])
    assert [d.language for d in found] == list(texts.values())


def test_any_label_set_works_and_round_trips(tmp_path: Path) -> None:
    rows = bitext_rows()[::4]
    renamed = {
        "ORDER": "Bestellung & Storno",
        "REFUND": "remboursement",
        "ACCOUNT": "账户",
        "DELIVERY": "delivery/tracking",
    }
    examples = [
        LabelledExample(description=r["description"], category=renamed.get(r["category"], "other"))
        for r in rows
    ]
    model, report = train_model(examples)
    assert report.labels == sorted(set(renamed.values()) | {"other"})
    write_model(model, tmp_path / "m.model")
    classifier = load_local_classifier(tmp_path / "m.model")
    assert list(classifier.labels) == report.labels
    decision = classifier.classify(TicketText(description="I want a refund of my money"))
    assert decision.category == "remboursement"


def test_two_labels_and_a_label_seen_once() -> None:
    rows = bitext_rows()
    examples = [
        LabelledExample(description=r["description"], category=label)
        for label in ("REFUND", "NEWSLETTER")
        for r in [r for r in rows if r["category"] == label][:100]
    ]
    examples.append(LabelledExample(description="please delete all my data", category="gdpr"))
    model, report = train_model(examples)
    assert report.labels == ["NEWSLETTER", "REFUND", "gdpr"]
    assert report.val_accuracy is not None and report.val_accuracy > 0.9
    assert report.trained_on == len(examples)  # the single example trained, never validated
    decision = LocalClassifier(model).classify(TicketText(description="please delete all my data"))
    assert decision.category == "gdpr"
    binary = LocalClassifier(train_model(examples[:-1])[0])
    decision = binary.classify(TicketText(description="subscribe me to the newsletter"))
    assert decision.category == "NEWSLETTER" and decision.confidence > 0.5


def test_large_sets_keep_the_validated_model_small_sets_are_refit() -> None:
    examples = bitext_examples()
    model, report = train_model(examples)  # 6,480 examples: above the refit limit
    assert report.val_size > 1000
    assert report.trained_on == len(examples) - report.val_size
    assert model.info["training_size"] == report.trained_on
    assert model.info["examples"] == len(examples)
    _, small = train_model(examples[::10])
    assert small.trained_on == len(examples[::10])


def test_too_few_labels_or_unusable_labels_are_refused() -> None:
    one = [LabelledExample(description=f"text {i}", category="only") for i in range(5)]
    with pytest.raises(TrainingError, match="at least 2 labels"):
        train_model(one)
    too_long = [*one, LabelledExample(description="x y z", category="x" * 65)]
    with pytest.raises(TrainingError, match="1 to 64 characters"):
        train_model(too_long)


def test_urgency_is_learned_when_labelled_and_ruled_otherwise() -> None:
    # The urgency is told by a house word the keyword rules cannot know.
    examples = [
        LabelledExample(
            description=f"{r['description']} {'bluecode' if i % 3 == 0 else 'routine'}",
            category=r["category"],
            urgency=Urgency.critical if i % 3 == 0 else Urgency.low,
        )
        for i, r in enumerate(bitext_rows()[::5])
    ]
    model, report = train_model(examples)
    assert report.urgency_source == "model"
    assert report.urgency_val_accuracy is not None and report.rules_val_accuracy is not None
    assert report.urgency_val_accuracy > report.rules_val_accuracy
    decision = LocalClassifier(model).classify(TicketText(description="bluecode track my order"))
    assert decision.urgency is Urgency.critical
    unlabelled = [LabelledExample(description=e.description, category=e.category) for e in examples]
    model, report = train_model(unlabelled)
    assert report.urgency_source == "rules" and model.urgency is None
    decision = LocalClassifier(model).classify(TicketText(description="our site is down!"))
    assert decision.urgency is Urgency.critical


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_local_classifier(tmp_path / "absent.model")


@pytest.fixture
def small_examples() -> Iterator[list[LabelledExample]]:
    yield bitext_examples()[::10]


def test_default_model_is_trained_once_then_cached(
    tmp_path: Path, small_examples: list[LabelledExample], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cached_model(lambda: small_examples, tmp_path)
    cached = list(tmp_path.glob("samples-*.model"))
    assert len(cached) == 1

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached model should have been loaded, not retrained")

    with monkeypatch.context() as patched:
        patched.setattr(training, "train_model", refuse)
        second = cached_model(lambda: small_examples, tmp_path)
    assert second.version == first.version
    # Other data means another cache entry.
    cached_model(lambda: small_examples[:-1], tmp_path)
    assert len(list(tmp_path.glob("samples-*.model"))) == 2


def test_default_model_from_the_bundled_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.data import samples

    try:
        categories = {s.category for s in samples.training_samples()}
    except FileNotFoundError:
        pytest.skip("pipeline/data/sample_tickets.jsonl is not written yet")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    classifier = load_local_classifier(None)
    assert set(classifier.labels) == categories
    assert list((tmp_path / "ticket-triage").glob("samples-*.model"))
    decision = classifier.classify(TicketText(description="I was charged twice this month"))
    assert decision.category in categories
