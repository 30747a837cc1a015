"""BERT's uncased WordPiece tokenizer in plain Python, for the sentence encoder (`embeddings`).

What `BertTokenizer(do_lower_case=True)` does: drop control characters, space out CJK
characters, lower-case and strip accents, split on whitespace and punctuation, then split each
word greedily into the longest pieces of the vocabulary (`##` marks a continuation).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

MAX_WORD_CHARS = 100


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def basic_words(text: str) -> list[str]:
    """Lower-cased, accent-free words and punctuation marks of a text."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD:
            continue
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            out.append(" ")
        elif category.startswith("C"):
            continue
        elif _is_cjk(code):
            out.append(f" {char} ")
        else:
            out.append(char)
    words: list[str] = []
    for token in "".join(out).lower().split():
        token = "".join(
            c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn"
        )
        start = 0
        for i, char in enumerate(token):
            if _is_punctuation(char):
                if start < i:
                    words.append(token[start:i])
                words.append(char)
                start = i + 1
        if start < len(token):
            words.append(token[start:])
    return words


class WordPiece:
    """Text to vocabulary ids, with `[CLS]` first and `[SEP]` last."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.index = {token: i for i, token in enumerate(vocabulary)}
        self.unknown = self.index["[UNK]"]
        self.cls, self.sep, self.pad = self.index["[CLS]"], self.index["[SEP]"], self.index["[PAD]"]
        self._word = lru_cache(maxsize=200_000)(self._pieces)

    def _pieces(self, word: str) -> tuple[int, ...]:
        if len(word) > MAX_WORD_CHARS:
            return (self.unknown,)
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.index.get(piece)
                if found is not None:
                    ids.append(found)
                    break
                end -= 1
            else:
                return (self.unknown,)
            start = end
        return tuple(ids)

    def encode(self, text: str, max_tokens: int) -> list[int]:
        """The ids of a text, cut to `max_tokens` including `[CLS]` and `[SEP]`."""
        ids = [self.cls]
        limit = max_tokens - 1
        for word in basic_words(text):
            ids.extend(self._word(word))
            if len(ids) >= limit:
                del ids[limit:]
                break
        ids.append(self.sep)
        return ids
