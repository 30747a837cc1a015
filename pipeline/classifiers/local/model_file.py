"""The local model's file: a JSON header and numpy arrays, hash-checked, with no pickle.

Layout: one magic line, one line of JSON header, then an `.npz` archive. The header carries
the SHA-256 of the canonical header (without `sha256`/`model_version`) plus the archive; the
hash is checked before any array is parsed, and arrays load with `allow_pickle=False`, so a
model file can hold numbers and strings but never code. The model it holds is `local_model`,
which also defines `ModelFileError`, the error of every refusal here.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.classifiers.local.language import Glossary
from pipeline.classifiers.local.model import (
    MAX_LABEL_CHARS,
    FeatureBlock,
    LinearHead,
    LocalModel,
    ModelFileError,
)
from pipeline.classifiers.local.near_duplicates import Fingerprint

if TYPE_CHECKING:
    from pipeline.classifiers.local.embeddings import EncoderRef

MAGIC = b"ticket-triage-local-model\n"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    # Like np.savez_compressed, but with fixed timestamps: the same model gives the same bytes,
    # so the same data and libraries give the same model version.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _terms_arrays(terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    # UTF-8 bytes plus offsets: any character, no fixed-width unicode padding, no object array.
    encoded = [t.encode("utf-8") for t in terms]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _terms_list(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    data = blob.tobytes()
    bounds = offsets.tolist()
    if bounds and (bounds[0] != 0 or bounds[-1] != len(data)):
        raise ModelFileError("vocabulary offsets do not match its bytes")
    return [data[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]


def _canonical(header: dict[str, Any]) -> bytes:
    body = {k: v for k, v in header.items() if k not in ("sha256", "model_version")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def model_bytes(model: LocalModel) -> tuple[bytes, str]:
    """The file content of a model and its SHA-256."""
    arrays: dict[str, np.ndarray] = {}
    for i, block in enumerate(model.blocks):
        arrays[f"block{i}_terms"], arrays[f"block{i}_offsets"] = _terms_arrays(block.terms)
        arrays[f"block{i}_idf"] = block.idf.astype(np.float32)
    heads = {"category": model.category, "urgency": model.urgency, "sentiment": model.sentiment}
    for name, head in heads.items():
        if head is not None:
            arrays[f"{name}_weights"] = head.weights.astype(np.float32)
            arrays[f"{name}_bias"] = head.bias.astype(np.float32)
    if model.fingerprint is not None:
        arrays["training_rows"] = model.fingerprint.hashes.astype(np.uint64)
    payload = _npz(arrays)
    header: dict[str, Any] = {
        **model.info,
        "format": MAGIC.decode().strip(),
        "format_version": FORMAT_VERSION,
        "blocks": [b.params() for b in model.blocks],
        "glossary": None if model.glossary is None else model.glossary.entries,
        **_encoder_header(model),
        **({"training_rows": model.fingerprint.rows} if model.fingerprint is not None else {}),
        **{
            f"{name}_head": None
            if head is None
            else {"labels": head.labels, "temperature": head.temperature}
            for name, head in heads.items()
        },
    }
    header = json.loads(json.dumps(header))  # tuples become lists, as they will read back
    canonical = _canonical(header)
    digest = hashlib.sha256(canonical + b"\n" + payload).hexdigest()
    header.update(sha256=digest, model_version=f"local-{digest[:12]}")
    line = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return MAGIC + line.encode() + b"\n" + payload, digest


def _encoder_header(model: LocalModel) -> dict[str, Any]:
    # Only models of kind embedding carry the key, so n-gram files keep their bytes and hash.
    if model.encoder is None:
        return {}
    return {
        "kind": model.kind,
        "encoder": {
            "package": model.encoder.package,
            "version": model.encoder.version,
            "dimension": model.encoder_dimension,
            "weight": model.encoder_weight,
        },
    }


def write_model(model: LocalModel, path: Path) -> str:
    """Write the model atomically (readers never see half a file); returns its SHA-256."""
    content, digest = model_bytes(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    model.sha256 = digest
    return digest


def read_model(path: Path, expected_sha256: str | None = None) -> LocalModel:
    """Load a model file after checking its hash (and the pinned hash, if one is given)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    return parse_model(content, source=str(path), expected_sha256=expected_sha256)


def parse_model(
    content: bytes, source: str = "model", expected_sha256: str | None = None
) -> LocalModel:
    """Parse model file bytes: magic, header, hash check, then the arrays."""
    if not content.startswith(MAGIC):
        raise ModelFileError(f"{source} is not a ticket-triage local model file")
    end = content.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER_BYTES)
    if end < 0:
        raise ModelFileError(f"{source}: header missing or too long")
    try:
        header = json.loads(content[len(MAGIC) : end])
    except ValueError as exc:
        raise ModelFileError(f"{source}: header is not JSON") from exc
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        found = header.get("format_version") if isinstance(header, dict) else None
        raise ModelFileError(f"{source}: format version {found!r}, expected {FORMAT_VERSION}")
    payload = content[end + 1 :]
    digest = hashlib.sha256(_canonical(header) + b"\n" + payload).hexdigest()
    if digest != header.get("sha256"):
        raise ModelFileError(f"{source}: SHA-256 mismatch, the file was changed or damaged")
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise ModelFileError(f"{source}: SHA-256 {digest} is not the pinned {expected_sha256}")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        model = _build(header, arrays)
    except ModelFileError:
        raise
    except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{source}: malformed model content ({exc})") from exc
    model.sha256 = digest
    return model


def _array(arrays: dict[str, np.ndarray], name: str, kind: str, ndim: int) -> np.ndarray:
    value = arrays[name]
    if value.dtype.kind != kind or value.ndim != ndim:
        raise ModelFileError(f"array {name}: unexpected {value.dtype} with {value.ndim} dims")
    return value


def _head(
    header: dict[str, Any], arrays: dict[str, np.ndarray], name: str, n_features: int
) -> LinearHead | None:
    spec = header.get(f"{name}_head")
    if spec is None:
        return None
    labels = [str(label) for label in spec["labels"]]
    weights = _array(arrays, f"{name}_weights", "f", 2).astype(np.float32)
    bias = _array(arrays, f"{name}_bias", "f", 1).astype(np.float32)
    if weights.shape != (n_features, len(labels)) or bias.shape != (len(labels),):
        raise ModelFileError(f"{name} weights do not fit {n_features} features x {len(labels)}")
    temperature = float(spec["temperature"])
    if not 0.0 < temperature < 1e6:
        raise ModelFileError(f"{name} temperature {temperature} out of range")
    return LinearHead(labels, weights, bias, temperature)


def _build(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> LocalModel:
    blocks = []
    for i, spec in enumerate(header["blocks"]):
        terms = _terms_list(
            _array(arrays, f"block{i}_terms", "u", 1), _array(arrays, f"block{i}_offsets", "i", 1)
        )
        idf = _array(arrays, f"block{i}_idf", "f", 1).astype(np.float32)
        low, high = (int(n) for n in spec["ngram_range"])
        blocks.append(
            FeatureBlock(str(spec["name"]), str(spec["analyzer"]), (low, high), terms, idf)
        )
    encoder, dimension, weight = _encoder(header.get("encoder"))
    n_features = sum(len(b.terms) for b in blocks) + dimension
    category = _head(header, arrays, "category", n_features)
    if category is None or len(category.labels) < 2:
        raise ModelFileError("model has no category head with at least 2 labels")
    if not all(0 < len(label) <= MAX_LABEL_CHARS for label in category.labels):
        raise ModelFileError(f"category labels must be 1 to {MAX_LABEL_CHARS} characters")
    entries = header.get("glossary")
    if entries is not None and not (
        isinstance(entries, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in entries.items())
    ):
        raise ModelFileError("glossary must map terms to words")
    glossary = None if entries is None else Glossary(entries)
    skip = {"format", "format_version", "blocks", "glossary", "kind", "encoder"} | {
        f"{head}_head" for head in ("category", "urgency", "sentiment")
    }
    skip |= {"training_rows", "sha256", "model_version"}
    info = {k: v for k, v in header.items() if k not in skip}
    urgency = _head(header, arrays, "urgency", n_features)
    sentiment = _head(header, arrays, "sentiment", n_features)
    fingerprint = None
    if "training_rows" in arrays:
        hashes = _array(arrays, "training_rows", "u", 1).astype(np.uint64)
        fingerprint = Fingerprint(hashes, int(header.get("training_rows", len(hashes))))
    return LocalModel(
        blocks,
        category,
        urgency,
        info,
        glossary,
        sentiment=sentiment,
        encoder=encoder,
        encoder_dimension=dimension,
        encoder_weight=weight,
        fingerprint=fingerprint,
    )


def _encoder(spec: Any) -> tuple[EncoderRef | None, int, float]:
    """The encoder a model of kind embedding names (package, version), its width and weight."""
    if spec is None:
        return None, 0, 1.0
    if not isinstance(spec, dict) or not all(
        isinstance(spec.get(k), str) for k in ("package", "version")
    ):
        raise ModelFileError("encoder must name a package and a version")
    dimension, weight = int(spec["dimension"]), float(spec["weight"])
    if not 0 < dimension <= 4096 or not 0.0 < weight < 1e3:
        raise ModelFileError("encoder dimension or weight out of range")
    from pipeline.classifiers.local.embeddings import EncoderRef

    return EncoderRef(spec["package"], spec["version"]), dimension, weight
