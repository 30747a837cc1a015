"""The model file: round trip, versioning, tamper detection, and loading that runs no code."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.classifiers.local.classifier import LocalClassifier, load_local_classifier
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.model import LocalModel, ModelFileError
from pipeline.classifiers.local.model_file import (
    FORMAT_VERSION,
    MAGIC,
    model_bytes,
    read_model,
    write_model,
)
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import TicketText, Urgency
from pipeline.domain.errors import ConfigurationError

PHRASES = {
    "billing": ["charged twice on my card", "invoice amount is wrong", "update payment method"],
    "shipping": ["parcel has not arrived", "tracking number shows nothing", "delivery is late"],
    "account": ["cannot log in to my account", "reset my password", "change my email address"],
}


def examples() -> list[LabelledExample]:
    """A tiny synthetic set with urgency labels the rules cannot guess."""
    out = []
    for label, phrases in PHRASES.items():
        for i in range(12):
            tag = ("zebra", "normal") if i % 2 else ("quokka", "high")
            out.append(
                LabelledExample(
                    subject=f"{label} question {i}",
                    description=f"{phrases[i % 3]} {tag[0]} number {i}",
                    category=label,
                    urgency=Urgency(tag[1]),
                )
            )
    return out


@pytest.fixture(scope="module")
def model() -> LocalModel:
    trained, _ = train_model(examples())
    return trained


@pytest.fixture
def model_path(model: LocalModel, tmp_path: Path) -> Path:
    path = tmp_path / "local.model"
    write_model(model, path)
    return path


def split_file(content: bytes) -> tuple[dict[str, object], bytes]:
    end = content.index(b"\n", len(MAGIC))
    return json.loads(content[len(MAGIC) : end]), content[end + 1 :]


def reseal(header: dict[str, object], payload: bytes) -> bytes:
    """What an attacker who knows the format would write: a consistent hash for new content."""
    body = {k: v for k, v in header.items() if k not in ("sha256", "model_version")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode() + b"\n" + payload).hexdigest()
    sealed = {**body, "sha256": digest, "model_version": f"local-{digest[:12]}"}
    line = json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return MAGIC + line.encode() + b"\n" + payload


def test_round_trip_keeps_labels_weights_and_answers(model: LocalModel, model_path: Path) -> None:
    loaded = read_model(model_path)
    assert loaded.category.labels == model.category.labels == ["account", "billing", "shipping"]
    assert loaded.urgency is not None and model.urgency is not None
    assert loaded.urgency.labels == model.urgency.labels
    assert np.array_equal(loaded.category.weights, model.category.weights)
    assert loaded.category.temperature == pytest.approx(model.category.temperature)
    assert [b.terms for b in loaded.blocks] == [b.terms for b in model.blocks]
    tickets = [TicketText(description=p) for ps in PHRASES.values() for p in ps]
    before = LocalClassifier(model).classify_many(tickets)
    after = LocalClassifier(loaded).classify_many(tickets)
    assert [(d.category, d.urgency, d.confidence) for d in before] == [
        (d.category, d.urgency, d.confidence) for d in after
    ]


def test_the_glossary_travels_in_the_file(model: LocalModel, tmp_path: Path) -> None:
    path = tmp_path / "g.model"
    write_model(model, path)
    loaded = read_model(path)
    assert model.glossary is not None and loaded.glossary is not None
    assert loaded.glossary.entries == model.glossary.entries
    plain, _ = train_model(examples(), glossary=None)
    write_model(plain, path)
    header, _ = split_file(path.read_bytes())
    assert header["glossary"] is None and read_model(path).glossary is None


def test_header_records_versions_and_the_version_names_the_hash(model_path: Path) -> None:
    header, _ = split_file(model_path.read_bytes())
    assert header["format_version"] == FORMAT_VERSION
    assert header["category_head"]["labels"] == ["account", "billing", "shipping"]  # type: ignore[index]
    assert header["training_size"] == len(examples())
    versions = header["library_versions"]
    assert isinstance(versions, dict) and {"scikit-learn", "numpy"} <= set(versions)
    assert header["model_version"] == f"local-{str(header['sha256'])[:12]}"
    assert load_local_classifier(model_path).model_version == header["model_version"]


def test_same_model_gives_the_same_bytes(model: LocalModel) -> None:
    assert model_bytes(model) == model_bytes(model)
    retrained, _ = train_model(examples())
    assert model_bytes(retrained)[1] == model_bytes(model)[1]


@pytest.mark.parametrize("where", ["payload", "header"])
def test_a_changed_byte_is_refused(model_path: Path, where: str) -> None:
    content = bytearray(model_path.read_bytes())
    if where == "payload":
        content[-100] ^= 0x01
    else:
        content[:] = content.replace(b'"billing"', b'"bi11ing"', 1)
    model_path.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="SHA-256 mismatch"):
        load_local_classifier(model_path)


def test_truncated_foreign_and_future_files_are_refused(model_path: Path, tmp_path: Path) -> None:
    content = model_path.read_bytes()
    cases = {
        "truncated": content[: len(content) // 2],
        "foreign": b"PK\x03\x04 not a model",
        "pickle": pickle.dumps({"weights": [1, 2, 3]}),
    }
    header, payload = split_file(content)
    cases["future"] = reseal({**header, "format_version": FORMAT_VERSION + 1}, payload)
    for name, data in cases.items():
        path = tmp_path / f"{name}.model"
        path.write_bytes(data)
        with pytest.raises(ModelFileError):
            read_model(path)
    with pytest.raises(ConfigurationError):  # what the worker's error handling sees
        read_model(tmp_path / "future.model")


def test_a_pinned_hash_must_match(model_path: Path) -> None:
    header, _ = split_file(model_path.read_bytes())
    assert read_model(model_path, expected_sha256=str(header["sha256"])).sha256 == header["sha256"]
    with pytest.raises(ModelFileError, match="pinned"):
        read_model(model_path, expected_sha256="0" * 64)


class Payload:
    """Pickled, this would create a directory when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_loading_never_unpickles_even_with_a_valid_hash(model_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    header, payload = split_file(model_path.read_bytes())
    evil = io.BytesIO()
    np.save(evil, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for name in src.namelist():
            data = evil.getvalue() if name == "category_bias.npy" else src.read(name)
            dst.writestr(name, data)
    path = tmp_path / "evil.model"
    path.write_bytes(reseal(header, rebuilt.getvalue()))
    with pytest.raises(ModelFileError, match="allow_pickle=False"):
        read_model(path)
    assert not marker.exists()


def test_a_good_file_loads_without_pickle_at_all(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    assert read_model(model_path).category.labels == ["account", "billing", "shipping"]
