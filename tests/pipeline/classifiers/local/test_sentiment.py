"""Local sentiment: transparent multilingual rules, and a learned head where data has labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.classifiers.local.classifier import LocalClassifier
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.model_file import read_model, write_model
from pipeline.classifiers.local.sentiment import normalise_sentiment, rule_sentiment
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import Sentiment, TicketText


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was charged twice. This is unacceptable!!! Thanks", Sentiment.very_negative),
        ("My parcel is late, where is it?", Sentiment.neutral),
        ("Good morning, I need a copy of invoice 42", Sentiment.neutral),
        ("Thank you so much, the support was excellent", Sentiment.very_positive),
        ("The new dashboard is great", Sentiment.positive),
        ("I am disappointed, still no answer", Sentiment.very_negative),
        ("I am not happy with the delivery", Sentiment.negative),
        ("Not bad, it works now", Sentiment.positive),
        ("Ich bin enttäuscht, das ist eine Frechheit", Sentiment.very_negative),
        ("Ich bin sehr zufrieden mit dem Service", Sentiment.positive),
        ("Je suis déçu de la livraison", Sentiment.negative),
        ("Service formidable, merci beaucoup", Sentiment.very_positive),
        ("Es inaceptable, quiero mi dinero", Sentiment.very_negative),
        ("Servizio eccellente", Sentiment.very_positive),
        ("Estou decepcionado com o pedido", Sentiment.negative),
        ("Ik ben erg teleurgesteld", Sentiment.negative),
        ("THIS IS THE WORST SERVICE I HAVE EVER SEEN", Sentiment.very_negative),
    ],
)
def test_rules_read_sentiment_in_several_languages(text: str, expected: Sentiment) -> None:
    assert rule_sentiment(text).sentiment is expected


def test_the_cue_and_confidence_explain_the_reading() -> None:
    angry = rule_sentiment("Unacceptable, I am furious and disappointed")
    assert angry.cue in {"unacceptable", "furious"}
    calm = rule_sentiment("Please update my billing address")
    assert (calm.sentiment, calm.cue) == (Sentiment.neutral, None)
    # More agreeing cues, more confidence; cues that cancel out are a mixed text.
    assert angry.confidence > rule_sentiment("I am disappointed").confidence
    mixed = rule_sentiment("The product is great but the delivery was terrible")
    assert mixed.sentiment is Sentiment.neutral and mixed.confidence < calm.confidence


def test_negation_flips_a_cue_and_says_so() -> None:
    reading = rule_sentiment("the agent was not helpful")
    assert reading.sentiment is Sentiment.negative and reading.cue == "not helpful"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Negative", Sentiment.negative),
        ("very negative", Sentiment.very_negative),
        ("very-negative", Sentiment.very_negative),
        ("VERY_POSITIVE", Sentiment.very_positive),
        ("angry", Sentiment.very_negative),
        ("-1", Sentiment.negative),
        ("0", Sentiment.neutral),
        ("meh", None),
        (None, None),
    ],
)
def test_export_labels_map_onto_five_levels(label: object, expected: Sentiment | None) -> None:
    assert normalise_sentiment(label) is expected


def _word(i: int) -> str:
    return "".join(chr(97 + (i * 7 + 3 * k) % 26) for k in range(4)) + "x"


def _examples(with_sentiment: bool) -> list[LabelledExample]:
    # A vocabulary the rules do not know ("grr", "yay") so only a learned head can read it.
    rows = []
    for i in range(40):
        for category, words in (("billing", "invoice charge"), ("shipping", "parcel courier")):
            mood, sentiment = (
                ("grr grr", Sentiment.very_negative) if i % 2 else ("yay yay", Sentiment.positive)
            )
            rows.append(
                LabelledExample(
                    # A word of its own per row: copies of one template would be grouped
                    # on one side of the validation split.
                    description=f"{words} {_word(i)} {mood}",
                    category=category,
                    sentiment=sentiment if with_sentiment else None,
                )
            )
    return rows


def test_a_learned_head_is_kept_where_it_beats_the_rules(tmp_path: Path) -> None:
    trained, report = train_model(_examples(with_sentiment=True))
    write_model(trained, tmp_path / "model.triage")
    model = read_model(tmp_path / "model.triage")  # the head survives the file
    assert model.sentiment is not None and trained.sentiment is not None
    assert model.sentiment.labels == trained.sentiment.labels
    assert report.sentiment_source == "model"
    assert report.sentiment_val_accuracy is not None
    assert report.sentiment_rules_val_accuracy is not None
    assert report.sentiment_val_accuracy > report.sentiment_rules_val_accuracy
    classifier = LocalClassifier(model)
    angry, happy = classifier.classify_many(
        [
            TicketText(description="invoice charge grr grr"),
            TicketText(description="parcel courier yay yay"),
        ]
    )
    assert (angry.sentiment, happy.sentiment) == (Sentiment.very_negative, Sentiment.positive)
    assert angry.sentiment_confidence is not None and angry.sentiment_confidence > 0.5


def test_without_labels_the_rules_answer() -> None:
    model, report = train_model(_examples(with_sentiment=False))
    assert report.sentiment_source == "rules" and model.sentiment is None
    decision = LocalClassifier(model).classify(
        TicketText(description="invoice charge, this is unacceptable")
    )
    assert decision.sentiment is Sentiment.very_negative
    assert decision.urgency_confidence is not None
    # The runner-up is kept for reviewers (audit only), never the chosen category itself.
    assert [a.category for a in decision.alternatives] == ["shipping"]
    assert 0.0 <= decision.alternatives[0].score < decision.confidence
