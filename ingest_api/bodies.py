"""Reading request bodies: size limit per route, JSON only, validated by pydantic models."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from ingest_api.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)


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
    """Parse JSON bytes, or answer 400."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
