"""Data sets of the classifier benchmark: the Bitext sample, and harder sets made from it.

Requests with typos, wrapped in e-mail boilerplate, labelled by intent x product (81 labels);
plus pseudo-word tickets that fill the model's whole feature budget, the worst case for size.
"""

from __future__ import annotations

import json
import random
import sys

import numpy as np

from bench.common import ROOT
from pipeline.classifiers.local.classifier import sample_as_example
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.near_duplicates import grouped_split

BITEXT = ROOT.parent / "shared/data/bitext/bitext-v1.jsonl"
# E-mail boilerplate written for this benchmark: it carries no label, like real greetings.
FILLER = [
    "Hello team,",
    "Hi there,",
    "Good morning,",
    "I hope you are doing well.",
    "I have been a customer for several years and usually everything works fine.",
    "I tried to find the answer on your website but could not.",
    "Thanks in advance for your help.",
    "Best regards, John",
    "Kind regards, Maria",
    "This is the second time I am writing about this.",
    "Please get back to me when you can.",
    "I am writing from my phone so sorry for any typos.",
    "My colleague told me to contact you directly.",
    "Let me know if you need any more information from me.",
    "I attached a screenshot in case it helps.",
]
PRODUCTS = ["laptop", "phone", "tablet"]


def typos(text: str, rng: random.Random) -> str:
    """The text with about one character in 20 deleted, swapped or inserted."""
    chars = list(text)
    for _ in range(max(1, len(chars) // 20)):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.33:
            del chars[i]
        elif op < 0.66 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz"))
    return "".join(chars)


def email(text: str, rng: random.Random) -> str:
    """The text among 4 to 8 sentences of e-mail boilerplate."""
    parts = rng.sample(FILLER, rng.randint(4, 8))
    parts.insert(rng.randint(1, len(parts)), text)
    return " ".join(parts)


def bitext() -> list[dict[str, str]]:
    """The Bitext rows, shuffled (the file is grouped by label) with a fixed seed."""
    if not BITEXT.is_file():
        sys.exit(f"Bitext sample not found at {BITEXT}")
    rows = [json.loads(line) for line in BITEXT.read_text(encoding="utf-8").splitlines()]
    random.Random(0).shuffle(rows)
    return rows


def perturbed(rows: list[dict[str, str]], n: int, seed: int = 0) -> list[LabelledExample]:
    """n tickets by category from Bitext: typos everywhere, half wrapped in an e-mail."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        text = typos(row["description"], rng)
        out.append(
            LabelledExample(
                description=email(text, rng) if i % 2 else text, category=row["category"]
            )
        )
    return out


def emails_81(rows: list[dict[str, str]], n: int, seed: int = 0) -> list[LabelledExample]:
    """n e-mail-length tickets labelled intent x product: 81 labels."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row, product = rows[i % len(rows)], rng.choice(PRODUCTS)
        text = email(typos(f"{row['description']} for my {product}", rng), rng)
        out.append(LabelledExample(description=text, category=f"{row['intent']}.{product}"))
    return out


def saturating(n: int, labels: int = 80, seed: int = 0) -> list[LabelledExample]:
    """Pseudo-word tickets with a huge vocabulary: every feature slot gets used."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(60_000)]
    out = []
    for i in range(n):
        label = i % labels
        topic = [words[label * 50 + j] for j in rng.integers(0, 50, 8)]
        noise = [words[j] for j in rng.integers(0, len(words), 40)]
        out.append(
            LabelledExample(description=" ".join(topic + noise), category=f"label-{label:02d}")
        )
    return out


def split(
    examples: list[LabelledExample], seed: int = 7, per_label: int | None = None
) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """80/20 by label and template; `per_label` keeps only that many training rows a label."""
    found = grouped_split([e.text() for e in examples], [e.category for e in examples], 0.2, seed)
    train = [examples[i] for i in found.train]
    if per_label is not None:
        kept: list[LabelledExample] = []
        seen: dict[str, int] = {}
        for example in train:
            seen[example.category] = seen.get(example.category, 0) + 1
            if seen[example.category] <= per_label:
                kept.append(example)
        train = kept
    return train, [examples[i] for i in found.val]


def project_samples() -> tuple[list[LabelledExample], list[LabelledExample]] | None:
    """The bundled samples the default model trains on, and the 20% held out from it."""
    from pipeline.data.samples import is_holdout, load_sample_tickets

    try:
        tickets = load_sample_tickets()
    except FileNotFoundError:
        return None
    pairs = [(sample_as_example(t), is_holdout(t.external_id)) for t in tickets]
    return [e for e, h in pairs if not h], [e for e, h in pairs if h]
