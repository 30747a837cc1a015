"""Template keys, the template-grouped split, the training fingerprint and label maps."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.classifiers.local.label_maps import (
    LabelMapError,
    read_label_map,
    relabel,
    unrouted_labels,
)
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.near_duplicates import Fingerprint, grouped_split, template_key


def test_copies_of_a_template_share_a_key() -> None:
    assert template_key("Cancel order 1234, Anna") == template_key("cancel order 98 ,  Bob!")
    assert template_key("cancel order 1") != template_key("cancel my order 1")


def test_no_template_lands_on_both_sides_of_the_split() -> None:
    rng = random.Random(1)
    texts, labels = [], []
    for t in range(40):
        for _ in range(rng.randint(1, 6)):
            texts.append(
                f"template {chr(97 + t % 26)}{chr(97 + t // 26)} order {rng.randrange(999)}"
            )
            labels.append("a" if t % 2 else "b")
    split = grouped_split(texts, labels, 0.2, seed=3)
    assert sorted(split.train + split.val) == list(range(len(texts)))
    train_keys = {template_key(texts[i]) for i in split.train}
    assert not train_keys & {template_key(texts[i]) for i in split.val}
    assert split.val and {labels[i] for i in split.val} == {"a", "b"}
    assert split.groups == sum(
        1 for k in set(map(template_key, texts)) if sum(template_key(x) == k for x in texts) > 1
    )


def test_a_sketched_fingerprint_estimates_the_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.classifiers.local import near_duplicates

    texts = [f"ticket about thing {chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(600)]
    exact = Fingerprint.of(texts)
    assert exact.overlap([*texts[:100], "something else entirely"]) == 100
    monkeypatch.setattr(near_duplicates, "FINGERPRINT_MAX_ROWS", 300)
    sketch = Fingerprint.of(texts)
    assert len(sketch.hashes) == 300 and sketch.rows == 600
    assert 50 <= sketch.overlap(texts[:100]) <= 150


def test_label_maps_from_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("theirs,ours\nACC,account\nShip,shipping\n", encoding="utf-8")
    assert read_label_map(csv_file) == {"ACC": "account", "Ship": "shipping"}
    examples = [LabelledExample(description="x", category=c) for c in ("ACC", "ship", "Other")]
    mapped = relabel(examples, read_label_map(csv_file), casefold=True)
    assert [e.category for e in mapped] == ["account", "shipping", "other"]
    assert [e.category for e in relabel(examples, {"ACC": "account"})] == [
        "account",
        "ship",
        "Other",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n", encoding="utf-8")
    with pytest.raises(LabelMapError, match="two columns"):
        read_label_map(bad)
    assert unrouted_labels(["account", "ACC"], ["account"]) == ["ACC"]
