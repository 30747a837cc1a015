"""Salvage a model's answer: keep the usable fields, default the bad non-essential ones (pure).

Only the category is essential: an answer without a usable one is an `LLMBadAnswer`. Every
other field has a fix in `REPAIRS` that either keeps its value or replaces it by a documented
default; the names of the fields replaced are the answer's `repaired` list (never the values,
which may quote the ticket). A new field joins with one line there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pycountry
from pydantic import ValidationError

from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.errors import LLMBadAnswer

REASON_MAX_CHARS = 200
UNDETERMINED_LANGUAGE = "und"  # ISO 639-3 "undetermined"
DEFAULT_URGENCY = Urgency.normal.value
DEFAULT_SENTIMENT = Sentiment.neutral.value
# A confidence we cannot read is no confidence: 0 sends the decision to review through the
# confidence threshold (a clamp would turn an injected "confidence 1.5" into full trust).
DEFAULT_CONFIDENCE = 0.0
EXTRA_KEYS = "extra_keys"  # the repair name for unknown keys dropped (their names are not kept)

_MISSING = object()
_CODE = re.compile(r"[a-z]{2,3}")

# A fix takes the raw value (or _MISSING) and returns (the value to keep, whether it was repaired).
Fix = Callable[[Any], tuple[Any, bool]]


def one_of(choices: Collection[str], default: str) -> Fix:
    """A fix for an enum field: its value in any case, else `default`."""

    def fix(value: Any) -> tuple[Any, bool]:
        text = value.strip().lower() if isinstance(value, str) else None
        return (text, False) if text in choices else (default, True)

    return fix


@lru_cache(maxsize=1024)
def iso639(code: str) -> str | None:
    """The ISO 639-1 code of an ISO 639-1/-2/-3 code (the 639-3 one if it has none), or None."""
    if not _CODE.fullmatch(code):
        return None
    languages = pycountry.languages
    if len(code) == 2:
        found = languages.get(alpha_2=code)
    else:
        found = languages.get(alpha_3=code) or languages.get(bibliographic=code)
    if found is None:
        return None
    return str(getattr(found, "alpha_2", None) or found.alpha_3)


def fix_language(value: Any) -> tuple[Any, bool]:
    """ "DE" and "deu" are German as given; "de-AT" keeps "de" (repaired); anything else: und."""
    if not isinstance(value, str):
        return UNDETERMINED_LANGUAGE, True
    tag = value.strip().lower().replace("_", "-")
    primary = tag.split("-", 1)[0]
    code = iso639(primary)
    if code is None:
        return UNDETERMINED_LANGUAGE, True
    return code, primary != tag


def fix_confidence(value: Any) -> tuple[Any, bool]:
    """A number in [0, 1] as given; anything else (text, bool, NaN, out of range): 0."""
    usable = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )
    return (float(value), False) if usable else (DEFAULT_CONFIDENCE, True)


def fix_reason(value: Any) -> tuple[Any, bool]:
    """A text up to `REASON_MAX_CHARS` as given; longer: cut with an ellipsis; not text: ""."""
    if not isinstance(value, str):
        return "", True
    if len(value) <= REASON_MAX_CHARS:
        return value, False
    return value[: REASON_MAX_CHARS - 1].rstrip() + "\u2026", True


# Field name (as in `Classification`) -> its fix, in the order repairs are reported.
REPAIRS: dict[str, Fix] = {
    "urgency": one_of({u.value for u in Urgency}, DEFAULT_URGENCY),
    "language": fix_language,
    "confidence": fix_confidence,
    "urgency_confidence": fix_confidence,
    "sentiment": one_of({s.value for s in Sentiment}, DEFAULT_SENTIMENT),
    "sentiment_confidence": fix_confidence,
    "reason": fix_reason,
}


@dataclass(frozen=True)
class Salvaged:
    """A decision from a model's answer, and the names of the fields that had to be repaired."""

    decision: Classification
    repaired: tuple[str, ...] = ()


def salvage(
    fields: Any,
    categories: Collection[str],
    *,
    classifier: str,
    model: str,
    expected: Collection[str] = (),
) -> Salvaged:
    """The decision of one parsed answer; LLMBadAnswer when it has no usable category.

    `expected` names keys that belong to the answer without being fields (a group's "id").
    """
    if not isinstance(fields, Mapping):
        raise LLMBadAnswer("the model's answer is not a JSON object")
    category = fields.get("category")
    if not isinstance(category, str) or category not in categories:
        problem = "missing" if "category" not in fields else "not one of the configured categories"
        raise LLMBadAnswer(f"the model's answer has no usable category: category {problem}")
    values: dict[str, Any] = {}
    repaired: list[str] = []
    for name, fix in REPAIRS.items():
        values[name], was_repaired = fix(fields.get(name, _MISSING))
        if was_repaired:
            repaired.append(name)
    if set(fields) - {"category", *REPAIRS, *expected}:
        repaired.append(EXTRA_KEYS)
    try:
        decision = Classification(category=category, classifier=classifier, model=model, **values)
    except ValidationError:  # a category the decision cannot hold (e.g. over 64 characters)
        raise LLMBadAnswer("the model's answer does not make a valid decision") from None
    return Salvaged(decision, tuple(repaired))
