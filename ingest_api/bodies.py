"""Reading request bodies: size limit per route, JSON only, validated by pydantic models."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from ingest_api.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)

# What a JSON body may hold: nesting and number sizes are bounded so parsing, fingerprints
# and the store never meet a value they cannot represent (stated in the OpenAPI document).
MAX_DEPTH = 32
MAX_INT_DIGITS = 20  # so every integer is below MAX_MAGNITUDE, as floats must be
MAX_MAGNITUDE = 1e20


class BodyRejected(ValueError):
    """A JSON body we refuse to parse: why, in words safe to show the sender."""


class InvalidValue:
    """Stands in for a value the API does not accept (NaN, 1e400, a duplicate key...)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> InvalidValue:
    return InvalidValue(f"{name} is not a JSON number")


def _float(text: str) -> float | InvalidValue:
    value = float(text)
    if not abs(value) < MAX_MAGNITUDE:
        return InvalidValue(f"numbers must be below {MAX_MAGNITUDE:.0e} in magnitude")
    return value


def _int(text: str) -> int | InvalidValue:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return InvalidValue(f"integers have at most {MAX_INT_DIGITS} digits")
    return int(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result[key] = InvalidValue("duplicate key in an object") if key in result else value
    return result


def first_problem(value: Any, depth: int = 0) -> str | None:
    """Why `value` (parsed by loads_lenient) is not acceptable, or None if it is."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, InvalidValue):
            return item.reason
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone surrogate (\\ud800-\\udfff)"
        elif isinstance(item, dict | list):
            if level >= MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return None


def loads_lenient(raw: bytes | str) -> Any:
    """Parse JSON syntax; values we do not accept come back as InvalidValue markers.

    BodyRejected only for what is not JSON at all (bad syntax, not UTF-8, nesting past the
    parser's recursion limit). Check the result (or each batch item) with `first_problem`.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(
            text,
            parse_constant=_constant,
            parse_float=_float,
            parse_int=_int,
            object_pairs_hook=_pairs,
        )
    except RecursionError:
        raise BodyRejected(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeError:
        raise BodyRejected("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyRejected(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:
        raise BodyRejected("body is not valid JSON") from None


def loads_strict(raw: bytes | str) -> Any:
    """Parse JSON the way the API accepts it; BodyRejected with the reason otherwise.

    UTF-8 text only; no NaN/Infinity, no number that overflows a double, integers of at most
    MAX_INT_DIGITS digits, nesting at most MAX_DEPTH deep, no duplicate keys, no lone
    surrogates.
    """
    value = loads_lenient(raw)
    problem = first_problem(value)
    if problem is not None:
        raise BodyRejected(problem)
    return value


def read_json_body(max_bytes: int) -> Any:
    """The request's JSON body, enforcing content type (415), size (413) and syntax (400)."""
    return parse_json(read_raw_body(max_bytes))


def read_raw_body(max_bytes: int) -> bytes:
    """The request's raw JSON body bytes (signatures are checked on these), size-limited."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as application/json",
            {"content_type": request.mimetype or None},
        )
    request.max_content_length = max_bytes  # per-route limit (Flask ≥ 3.1)
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise ApiError(
            413, "body_too_large", f"body exceeds {max_bytes} bytes", {"max_bytes": max_bytes}
        ) from None
    return raw


def parse_json(raw: bytes) -> Any:
    """Parse JSON bytes strictly (see loads_strict), or answer 400."""
    try:
        return loads_strict(raw)
    except BodyRejected as exc:
        raise ApiError(
            400, "invalid_json", "body is not valid JSON", {"reason": str(exc)}
        ) from None


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    """Field-level problems: where, what kind, and a message (never the submitted value)."""
    return [
        {
            "field": ".".join(str(p) for p in item["loc"]) or None,
            "type": item["type"],
            "message": item["msg"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]


def validate_body(model: type[ModelT], body: Any) -> ModelT:
    """Validate a parsed body against a pydantic model, or answer 422 with field details."""
    if not isinstance(body, dict):
        raise ApiError(422, "validation_failed", "body must be a JSON object", [])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_failed", "the ticket is invalid", validation_details(exc)
        ) from None
