"""What the local model reads of a ticket: its text, normalised, and its word and char n-grams.

Character n-grams are hashed in numpy, batch by batch (`char_grams`); a vocabulary's terms get
the same hashes (`term_hashes`), so counting never builds a Python string per n-gram.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

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
