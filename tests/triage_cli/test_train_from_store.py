"""`triage train --from-store`: learns from corrected and known labels in the store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.classifiers.local.classifier import LocalClassifier
from pipeline.classifiers.local.model_file import read_model
from pipeline.operations.retention import erase_customer
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import submit
from triage_cli.main import main

TEXTS = {
    "billing": [
        "charged twice on my card",
        "invoice total is wrong",
        "refund the double charge",
        "payment failed but money taken",
        "VAT missing on the receipt",
    ],
    "shipping": [
        "parcel has not arrived",
        "tracking stuck for a week",
        "courier lost my box",
        "change the delivery address",
        "package arrived damaged",
    ],
}


def test_learns_from_known_labels_and_skips_erased_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    store = open_store(Settings())
    for category, texts in TEXTS.items():
        for i, text in enumerate(texts * 4):
            submit(store, subject=f"{category} {i}", description=text, category=category)
    submit(
        store, subject="secret", description="erase me", category="billing", customer_id="cus_gone"
    )
    submit(store, subject="no label", description="unlabelled ticket")
    erase_customer(store, "cus_gone", actor="test")

    out = tmp_path / "store.model"
    result = CliRunner().invoke(main, ["train", "--from-store", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "learning from 40 corrections (tickets with a corrected or known category)" in (
        result.output
    )
    last = result.output.strip().splitlines()[-1]
    assert re.fullmatch(rf"model written to {out} labels=2 trained_on=40 val_accuracy=\S+", last)
    assert list(LocalClassifier(read_model(out)).labels) == ["billing", "shipping"]


def test_file_and_from_store_are_exclusive(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--from-store", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert CliRunner().invoke(main, ["train"]).exit_code == 2
