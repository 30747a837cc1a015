"""The Gemini transport: one google-genai request, its errors mapped to ours (no SDK retries)."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMRejected,
    LLMUnavailable,
    TriageError,
)
from pipeline.ports import LLMAnswer
from pipeline.settings import Settings

# google-genai 3.x sends through httpx2 by default (httpx when GOOGLE_GENAI_HTTP_CLIENT=httpx).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
try:
    import httpx2

    TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - an older SDK without httpx2
    pass

TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_CONFIGS = 16  # (schema, system) pairs kept: one per prompt shape in practice


def make_client(settings: Settings) -> genai.Client:
    """A genai client: Vertex AI with a project, else the Gemini API with a key; no SDK retry."""
    http_options = types.HttpOptions(
        # None keeps the SDK's own GOOGLE_GEMINI_BASE_URL / GOOGLE_VERTEX_BASE_URL working.
        base_url=settings.gemini_base_url or None,
        timeout=settings.gemini_timeout_ms,  # milliseconds
        # One attempt: our task retries, so every attempt passes the shared budget.
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    try:
        if settings.gemini_vertex_project:
            return genai.Client(
                vertexai=True,
                project=settings.gemini_vertex_project,
                location=settings.gemini_vertex_location,
                http_options=http_options,
            )
        key = settings.gemini_key()
        if not key:
            raise ConfigurationError(
                "Gemini needs an API key (TRIAGE_GEMINI_API_KEY, GEMINI_API_KEY or "
                "GOOGLE_API_KEY) or a Vertex AI project (TRIAGE_GEMINI_VERTEX_PROJECT)"
            )
        return genai.Client(api_key=key, http_options=http_options)
    except ValueError as exc:  # the SDK's own configuration checks
        raise ConfigurationError(f"cannot configure the Gemini client: {exc}") from None


def _seconds(value: object) -> float | None:
    """A protobuf Duration ("12s", "1.5s") or a plain number of seconds."""
    try:
        seconds = float(str(value).strip().removesuffix("s"))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(exc: genai_errors.APIError) -> float | None:
    """Seconds to wait from RetryInfo.retryDelay ("12s") or the Retry-After header (largest)."""
    waits: list[float | None] = []
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(".RetryInfo"):
            waits.append(_seconds(detail.get("retryDelay")))
    headers = getattr(exc.response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    if header:
        wait = _seconds(header)
        if wait is None:  # the HTTP-date form
            try:
                when = email.utils.parsedate_to_datetime(header).timestamp()
                wait = max(0.0, when - time.time())
            except (TypeError, ValueError):
                wait = None
        waits.append(wait)
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def _provider_message(exc: genai_errors.APIError, sent: str, key: str | None) -> str:
    """The provider's message, unless it could quote what we sent; never the API key."""
    message = " ".join(str(exc.message or "").split())[:200]
    if key and key in message:
        message = message.replace(key, "***")
    # A 400 may echo part of the request: then say nothing rather than leak ticket text.
    if any(sent[i : i + 24] in message for i in range(0, max(1, len(sent) - 23), 8)):
        return "(message withheld: it quotes the request)"
    return message


def map_api_error(exc: genai_errors.APIError, sent: str, key: str | None) -> TriageError:
    """408/429/5xx → LLMUnavailable (retry_after; rate_limited for 429); else LLMRejected."""
    label = f"{exc.code} {exc.status or ''}".strip()
    message = _provider_message(exc, sent, key)
    if exc.code in TRANSIENT_CODES or 500 <= exc.code < 600:
        return LLMUnavailable(
            f"Gemini unavailable: {label}",
            retry_after=parse_retry_after(exc),
            rate_limited=exc.code == 429,
        )
    return LLMRejected(f"Gemini refused the request: {label}: {message}")


class GeminiTransport:
    """`LLMTransport` on google-genai: the client is reused, each request config built once."""

    provider = "gemini"

    def __init__(self, settings: Settings, *, client: genai.Client | None = None) -> None:
        self.client = client if client is not None else make_client(settings)
        self.key = settings.gemini_key()
        # id(schema) → (schema, config). The entry holds the schema, so its id stays its own.
        self._configs: dict[int, tuple[dict[str, Any], types.GenerateContentConfig]] = {}

    def send(self, *, system: str, contents: str, schema: dict[str, Any], model: str) -> LLMAnswer:
        """One generateContent request (the SDK does not retry: our tasks do, via the budget)."""
        config = self.config(system, schema)
        try:
            response = self.client.models.generate_content(
                model=model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            raise map_api_error(exc, contents, self.key) from None
        except TRANSPORT_ERRORS as exc:
            raise LLMUnavailable(f"Gemini unreachable: {type(exc).__name__}") from None
        except genai_errors.UnknownApiResponseError:
            raise LLMBadAnswer("Gemini's response is not JSON") from None
        usage = response.usage_metadata
        feedback = response.prompt_feedback
        blocked = None
        if feedback is not None and feedback.block_reason is not None:
            blocked = f"Gemini blocked the prompt: {feedback.block_reason}"
        return LLMAnswer(
            text=response.text,
            prompt_tokens=usage.prompt_token_count if usage else None,
            output_tokens=usage.candidates_token_count if usage else None,
            total_tokens=usage.total_token_count if usage else None,
            blocked=blocked,
        )

    def config(self, system: str, schema: dict[str, Any]) -> types.GenerateContentConfig:
        """The request config for this (system, schema), built on first use (1% of a worker
        per call otherwise). A Schema, not the dict: the SDK rewrites a dict in place on every
        call, while it works on a copy of a Schema."""
        entry = self._configs.get(id(schema))
        if entry is not None and entry[0] is schema and entry[1].system_instruction == system:
            return entry[1]
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_schema=types.Schema.model_validate(schema),
            temperature=0,
        )
        if len(self._configs) >= _MAX_CONFIGS:
            self._configs.clear()
        self._configs[id(schema)] = (schema, config)
        return config

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self.client.close()
