"""The local model and its file: a JSON header and numpy arrays, hash-checked, with no pickle.

Layout: one magic line, one line of JSON header, then an `.npz` archive. The header carries
the SHA-256 of the canonical header (without `sha256`/`model_version`) plus the archive; the
hash is checked before any array is parsed, and arrays load with `allow_pickle=False`, so a
model file can hold numbers and strings but never code.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from pipeline.classifiers.language import Glossary
from pipeline.errors import ConfigurationError

MAGIC = b"ticket-triage-local-model\n"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
ANALYZERS = ("word", "char_wb")
MAX_LABEL_CHARS = 64  # what a Classification accepts as a category
# Long e-mails: the opening carries the request; the rest costs time and adds quoted noise.
MAX_SUBJECT_CHARS = 300
MAX_DESCRIPTION_CHARS = 4000

_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")
_PRIME = np.uint64(0x100000001B3)  # FNV-1 prime: a well-mixing odd multiplier
_LENGTH_SALT = 0x9E3779B97F4A7C15  # mixed in so n-grams of different lengths hash apart


def _salt(n: int) -> np.uint64:
    return np.uint64((_LENGTH_SALT * n) & 0xFFFF_FFFF_FFFF_FFFF)


class ModelFileError(ConfigurationError):
    """A model file is missing, tampered with, or not in a format this code reads."""


def ticket_text(subject: str, description: str) -> str:
    """The one text a model reads for a ticket: subject and the start of the description."""
    return f"{subject[:MAX_SUBJECT_CHARS]}\n{description[:MAX_DESCRIPTION_CHARS]}"


def normalise_text(text: str) -> str:
    """Lower-case; order numbers, amounts, URLs and e-mail addresses become placeholders."""
    if not text.isascii():  # lone surrogates (valid JSON escapes) cannot be stored as UTF-8
        text = text.encode("utf-8", "replace").decode("utf-8")
    # Numbers are identifiers or amounts: their digits say nothing about the category.
    text = _EMAIL.sub(" _email_ ", _URL.sub(" _url_ ", text))
    return _DIGITS.sub("0", text.lower())


def word_grams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Word n-grams of a normalised text (words are runs of letters, digits and `_`)."""
    tokens = _WORD.findall(text)
    grams: list[str] = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        grams += (
            tokens if n == 1 else [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        )
    return grams


class CharGrams(NamedTuple):
    """Every character n-gram of a batch: hash, text index, start in `joined`, length."""

    hashes: np.ndarray
    docs: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    joined: str


def char_grams(texts: Sequence[str], ngram_range: tuple[int, int]) -> CharGrams:
    """The character n-grams inside space-padded words, hashed, for a batch of texts.

    Vectorised over the batch: a Python loop over characters costs ten times more. Words are
    padded with one space and joined with two, so an n-gram holding two spaces crosses words.
    """
    padded = [" " + "  ".join(t.split()) + " " for t in texts]
    joined = "\0".join(padded)
    codes = np.frombuffer(joined.encode("utf-32-le", "replace"), dtype=np.uint32).astype(np.uint64)
    lengths = np.array([len(t) + 1 for t in padded], dtype=np.int64)
    doc = np.repeat(np.arange(len(texts)), lengths)[: len(codes)]
    separator = np.zeros(len(codes), dtype=bool)
    separator[np.cumsum(lengths)[:-1] - 1] = True
    space = codes == 32
    hashes, docs, starts, sizes = [], [], [], []
    h, bad, crossing = codes.copy(), separator.copy(), np.zeros(len(codes), dtype=bool)
    for n in range(1, ngram_range[1] + 1):
        if n > 1:
            end = len(codes) - n + 1
            h = h[:-1] * _PRIME + codes[n - 1 :]
            bad = bad[:-1] | separator[n - 1 :]
            crossing = crossing[:-1] | (space[n - 2 : n - 2 + end] & space[n - 1 :])
        if n >= ngram_range[0]:
            found = np.flatnonzero(~(bad | crossing))
            hashes.append(h[found] ^ _salt(n))
            docs.append(doc[found])
            starts.append(found)
            sizes.append(np.full(len(found), n, dtype=np.int64))
    join = np.concatenate
    return CharGrams(join(hashes), join(docs), join(starts), join(sizes), joined)


def term_hashes(terms: Sequence[str]) -> np.ndarray:
    """The `char_grams` hash of each term (Horner's rule per term length, vectorised)."""
    out = np.zeros(len(terms), dtype=np.uint64)
    by_length: dict[int, list[int]] = {}
    for i, term in enumerate(terms):
        by_length.setdefault(len(term), []).append(i)
    for n, idx in by_length.items():
        joined = "".join(terms[i] for i in idx).encode("utf-32-le", "replace")
        codes = np.frombuffer(joined, dtype=np.uint32).astype(np.uint64).reshape(len(idx), n)
        h = np.zeros(len(idx), dtype=np.uint64)
        for k in range(n):
            h = h * _PRIME + codes[:, k]
        out[idx] = h ^ _salt(n)
    return out


@dataclass
class FeatureBlock:
    """One bag of n-grams with sublinear TF-IDF weights, rebuilt from vocabulary and idf."""

    name: str
    analyzer: str
    ngram_range: tuple[int, int]
    terms: list[str]
    idf: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False)
    _sorted_hashes: np.ndarray = field(init=False, repr=False)
    _hash_order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.analyzer not in ANALYZERS or not 1 <= self.ngram_range[0] <= self.ngram_range[1]:
            raise ModelFileError(f"feature block {self.name!r}: unsupported parameters")
        if len(self.terms) != len(self.idf) or len(set(self.terms)) != len(self.terms):
            raise ModelFileError(f"feature block {self.name!r}: vocabulary and idf disagree")
        self._index = {t: i for i, t in enumerate(self.terms)} if self.analyzer == "word" else {}
        hashes = term_hashes(self.terms) if self.analyzer == "char_wb" else np.zeros(0, np.uint64)
        self._hash_order = np.argsort(hashes, kind="stable")
        self._sorted_hashes = hashes[self._hash_order]

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Term counts of normalised texts (unknown n-grams ignored)."""
        if self.analyzer == "word":
            per_text = [word_grams(text, self.ngram_range) for text in texts]
            rows = [len(g) for g in per_text]
            flat = itertools.chain.from_iterable(per_text)
            get = self._index.get
            cols = np.fromiter(map(get, flat, itertools.repeat(-1)), np.int64, sum(rows))
            doc = np.repeat(np.arange(len(texts)), rows)
        else:
            grams = char_grams(texts, self.ngram_range)
            doc, cols = grams.docs, np.full(len(grams.hashes), -1, dtype=np.int64)
            if self.terms:
                last = len(self.terms) - 1
                pos = np.minimum(np.searchsorted(self._sorted_hashes, grams.hashes), last)
                hit = self._sorted_hashes[pos] == grams.hashes
                cols[hit] = self._hash_order[pos[hit]]
        keep = cols >= 0
        data = np.ones(int(keep.sum()), dtype=np.float32)
        shape = (len(texts), len(self.terms))
        # Duplicate (row, column) pairs add up: that is the count.
        return sp.csr_matrix((data, (doc[keep], cols[keep])), shape=shape)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sublinear-TF x idf rows, L2-normalised, for normalised texts."""
        return weigh(self.counts(texts), self.idf)

    def params(self) -> dict[str, Any]:
        """The header entry describing this block."""
        return {"name": self.name, "analyzer": self.analyzer, "ngram_range": self.ngram_range}


def weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """1 + log(tf), times idf, each row scaled to unit length."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    x.sum_duplicates()
    np.log(x.data, out=x.data)
    x.data += 1.0
    x.data *= idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x.data /= np.repeat(norms, np.diff(x.indptr)).astype(np.float32)
    return x


@dataclass
class LinearHead:
    """A linear scorer over the features: one column of weights and a bias per label."""

    labels: list[str]
    weights: np.ndarray  # (n_features, n_labels), float32
    bias: np.ndarray  # (n_labels,), float32
    temperature: float = 1.0

    def scores(self, x: sp.csr_matrix) -> np.ndarray:
        """Raw decision scores, one row per text."""
        return np.asarray(x @ self.weights) + self.bias

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Temperature-scaled softmax of the scores."""
        return softmax(scores / self.temperature)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large scores."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class LocalModel:
    """Everything the local classifier needs: features, heads, and what it was trained on."""

    blocks: list[FeatureBlock]
    category: LinearHead
    urgency: LinearHead | None
    info: dict[str, Any]
    glossary: Glossary | None = None
    sha256: str = ""

    @property
    def version(self) -> str:
        """`local-` and the first 12 hex digits of the file hash."""
        return f"local-{self.sha256[:12]}" if self.sha256 else "local-unsaved"

    @property
    def n_features(self) -> int:
        """Width of the feature vector (all blocks side by side)."""
        return sum(len(b.terms) for b in self.blocks)

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of raw ticket texts."""
        return featurize(self.blocks, prepare(texts, self.glossary))


def prepare(texts: Sequence[str], glossary: Glossary | None) -> list[str]:
    """Normalised texts, with the glossary's English words for foreign support terms."""
    clean = [normalise_text(t) for t in texts]
    return clean if glossary is None else [glossary.expand(t) for t in clean]


def featurize(blocks: Sequence[FeatureBlock], texts: Sequence[str]) -> sp.csr_matrix:
    """The feature matrix of prepared texts: one transform per block, for the whole batch."""
    return sp.hstack([b.transform(texts) for b in blocks], format="csr")


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
    heads = {"category": model.category, "urgency": model.urgency}
    for name, head in heads.items():
        if head is not None:
            arrays[f"{name}_weights"] = head.weights.astype(np.float32)
            arrays[f"{name}_bias"] = head.bias.astype(np.float32)
    payload = _npz(arrays)
    header: dict[str, Any] = {
        **model.info,
        "format": MAGIC.decode().strip(),
        "format_version": FORMAT_VERSION,
        "blocks": [b.params() for b in model.blocks],
        "glossary": None if model.glossary is None else model.glossary.entries,
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
    n_features = sum(len(b.terms) for b in blocks)
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
    skip = {"format", "format_version", "blocks", "category_head", "urgency_head", "glossary"}
    info = {k: v for k, v in header.items() if k not in skip | {"sha256", "model_version"}}
    urgency = _head(header, arrays, "urgency", n_features)
    return LocalModel(blocks, category, urgency, info, glossary)
