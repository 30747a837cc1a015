"""Keyword urgency rules in several languages, urgency labels, and language detection."""

from __future__ import annotations

import pytest

from pipeline.classifiers.local.language import (
    DEFAULT_GLOSSARY,
    Glossary,
    detect_language,
    detect_languages,
)
from pipeline.classifiers.local.text_features import normalise_text
from pipeline.classifiers.local.urgency import normalise_urgency, rule_urgency
from pipeline.domain.classification import Urgency


@pytest.mark.parametrize(
    ("text", "level", "trigger"),
    [
        ("Our whole site is down since 9am", Urgency.critical, "is down"),
        ("Major OUTAGE in the EU region", Urgency.critical, "outage"),
        ("My account was hacked!", Urgency.critical, "hacked"),
        ("Mein Konto wurde gehackt", Urgency.critical, "gehackt"),
        ("Mon compte a été piraté", Urgency.critical, "piraté"),
        ("Please fix this ASAP", Urgency.high, "asap"),
        ("URGENT: invoice wrong", Urgency.high, "urgent"),
        ("Bitte dringend prüfen", Urgency.high, "dringend"),
        ("Es urgente, no funciona", Urgency.high, "urgente"),
        ("Il pagamento non funziona", Urgency.high, "non funziona"),
        ("Not urgent, just a question about invoices", Urgency.low, "not urgent"),
        ("Keine Eile, nur eine Frage", Urgency.low, "keine eile"),
        ("A small suggestion for the app", Urgency.low, "suggestion"),
        ("Not urgent, but the login page is down", Urgency.critical, "is down"),
        ("How do I download my invoice?", Urgency.normal, None),
        ("", Urgency.normal, None),
    ],
)
def test_keyword_rules(text: str, level: Urgency, trigger: str | None) -> None:
    assert rule_urgency(text) == (level, trigger)


@pytest.mark.parametrize(
    ("label", "level"),
    [
        ("High", Urgency.high),
        (" p1 ", Urgency.critical),
        ("Urgent", Urgency.critical),
        ("medium", Urgency.normal),
        ("low", Urgency.low),
        ("3", None),  # numbering runs either way between helpdesks
        ("soonish", None),
        (None, None),
    ],
)
def test_urgency_labels(label: str | None, level: Urgency | None) -> None:
    assert normalise_urgency(label) is level


def test_languages_as_iso_639_1_or_undetermined() -> None:
    texts = [
        "Hello, my parcel never arrived and I would like a refund.",
        "Hallo, mein Paket ist nie angekommen und ich möchte mein Geld zurück.",
        "Bonjour, mon colis n'est jamais arrivé, je voudrais un remboursement.",
        "Olá, a minha encomenda nunca chegou e gostaria de um reembolso.",
        "Здравствуйте, моя посылка так и не пришла, верните деньги.",
        "注文した商品がまだ届いていません。返金してください。",
        "ok",
        "#4711 !!",
    ]
    assert detect_languages(texts) == ["en", "de", "fr", "pt", "ru", "ja", "und", "und"]
    assert detect_language("asdfgh qwerty zxcvb") == "und"  # no language is likely enough


@pytest.mark.parametrize(
    ("text", "added"),
    [
        ("meine rechnung wurde doppelt abgebucht", "invoice twice charge"),
        ("mot de passe oublié, ça ne marche pas", "password not working"),
        ("¿dónde está mi paquete? el envío no llega", "parcel delivery"),
        ("rimborso per l'ordine 0", "refund order"),
        ("de bestelling is beschadigd", "order damaged"),
    ],
)
def test_glossary_appends_english_words(text: str, added: str) -> None:
    assert Glossary(DEFAULT_GLOSSARY).expand(text) == f"{text}\n{added}"


def test_glossary_leaves_english_alone() -> None:
    # Stems are chosen to match no English word: "custo*" would have hit "customer".
    english = [
        "I need to contact customer support about my account and the batteries",
        "please cancel the order, the parcel has not arrived and I want a refund",
        "what about the restitution of my costs? my password does not work",
    ]
    glossary = Glossary(DEFAULT_GLOSSARY)
    for text in english:
        assert glossary.expand(normalise_text(text)) == normalise_text(text)


def test_batch_language_scoring_agrees_with_py3langid() -> None:
    # The batch path re-does py3langid's scoring with its tables: it must answer the same.
    texts = [
        "Hello, my parcel never arrived and I would like a refund.",
        "Hallo, ich habe meine Rechnung doppelt bezahlt.",
        "Bonjour, je n'arrive pas à me connecter à mon compte.",
        "Buongiorno, il pagamento non funziona.",
        "Goedemorgen, mijn bestelling is beschadigd aangekomen.",
        "Olá, a minha encomenda nunca chegou.",
        "¿Dónde está mi pedido? Lo necesito urgentemente.",
        "Здравствуйте, моя посылка так и не пришла.",
        "注文した商品がまだ届いていません。",
        "refund please",
        "Rechnung",
        "ok",
        "",
        "#4711 !!",
        "asdfgh qwerty zxcvb",
    ] * 3
    one_by_one = [detect_language(t) for t in texts]
    assert detect_languages(texts) == one_by_one
    assert one_by_one[:9] == ["en", "de", "fr", "it", "nl", "pt", "es", "ru", "ja"]
