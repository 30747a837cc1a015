"""The OpenAI-compatible transport: one chat completion, its errors mapped to ours (no SDK retries).

One client serves OpenAI, Azure OpenAI (its /openai/v1 endpoint), vLLM, Ollama, LM Studio and
LiteLLM: only the base URL and the key differ. Structured output is either strict
`json_schema` or, for servers without it, JSON mode with the schema in the system message.
API reference: https://platform.openai.com/docs/api-reference/chat/create
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from pipeline.classifiers.openai.schema import schema_instruction, schema_name, strict_schema
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMQuotaExhausted,
    LLMRejected,
    LLMUnavailable,
    TriageError,
)
from pipeline.ports import LLMAnswer
from pipeline.settings import Settings

DEFAULT_MODEL = "gpt-4.1-mini"
TRANSIENT_CODES = frozenset({408, 409, 429})  # and every 5xx
# A 429 whose `code`/`type` says the credit or monthly limit is used up, not a rate limit:
# https://platform.openai.com/docs/guides/error-codes/api-errors
INSUFFICIENT_QUOTA = "insufficient_quota"
_MAX_FORMATS = 16  # schemas kept: one per prompt shape in practice
# x-ratelimit-reset-* values: "1s", "6m0s", "20ms", "1h2m3.5s" (https://platform.openai.com/docs/guides/rate-limits)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def make_client(settings: Settings) -> openai.OpenAI:
    """An SDK client on the configured base URL and key; the SDK retries nothing."""
    key = settings.openai_key()
    if not key:
        raise ConfigurationError(
            "the openai provider needs OPENAI_API_KEY (any value for servers that ignore it)"
        )
    try:
        return openai.OpenAI(
            api_key=key,
            base_url=settings.openai_base_url or None,  # None: OPENAI_BASE_URL, else api.openai.com
            timeout=settings.openai_timeout_s,
            max_retries=0,  # one retry layer: our tasks, each attempt through the shared budget
        )
    except openai.OpenAIError as exc:  # the SDK's own configuration checks
        raise ConfigurationError(f"cannot configure the OpenAI client: {exc}") from None


def _duration(value: str | None) -> float | None:
    """Seconds in a rate-limit reset header ("6m0s", "20ms", "1.5"), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait: retry-after-ms, else Retry-After (seconds or a date), else the reset of
    the exhausted rate limit (x-ratelimit-reset-requests / -tokens)."""
    if headers is None:
        return None
    wait = _duration(headers.get("retry-after-ms"))
    if wait is not None:
        return wait / 1000
    header = headers.get("retry-after")
    if header:
        wait = _duration(header)
        if wait is None:  # the HTTP-date form
            try:
                wait = max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
            except (TypeError, ValueError):
                wait = None
        if wait is not None:
            return wait
    resets = {
        kind: _duration(headers.get(f"x-ratelimit-reset-{kind}")) for kind in ("requests", "tokens")
    }
    exhausted = [
        reset
        for kind, reset in resets.items()
        if reset is not None and headers.get(f"x-ratelimit-remaining-{kind}") == "0"
    ]
    known = exhausted or [reset for reset in resets.values() if reset is not None]
    return max(known) if known else None


def _provider_message(exc: openai.APIStatusError, sent: str, key: str | None) -> str:
    """The provider's message, unless it could quote what we sent; never the API key."""
    body = exc.body if isinstance(exc.body, dict) else {}
    message = " ".join(str(body.get("message") or "").split())[:200]
    if key and key in message:
        message = message.replace(key, "***")
    if any(sent[i : i + 24] in message for i in range(0, max(1, len(sent) - 23), 8)):
        return "(message withheld: it quotes the request)"
    return message


def map_status_error(exc: openai.APIStatusError, sent: str, key: str | None) -> TriageError:
    """408/409/429/5xx → LLMUnavailable (retry_after; rate_limited for 429); else LLMRejected."""
    status = exc.status_code
    label = " ".join(str(part) for part in (status, exc.code or exc.type or "") if part)
    if status == 429 and INSUFFICIENT_QUOTA in (exc.code, exc.type):
        # Out of credit or over the monthly limit: retrying until next month cannot help.
        return LLMQuotaExhausted(
            f"OpenAI-compatible API: quota exhausted ({label})", rate_limited=True
        )
    if status in TRANSIENT_CODES or status >= 500:
        return LLMUnavailable(
            f"OpenAI-compatible API unavailable: {label}",
            retry_after=parse_retry_after(exc.response.headers),
            rate_limited=status == 429,
        )
    message = _provider_message(exc, sent, key)
    return LLMRejected(f"OpenAI-compatible API refused the request: {label}: {message}")


class OpenAITransport:
    """`LLMTransport` on the `openai` SDK: one client reused, each response format built once."""

    provider = "openai"

    def __init__(self, settings: Settings, *, client: openai.OpenAI | None = None) -> None:
        self.client = client if client is not None else make_client(settings)
        self.key = settings.openai_key()
        self.response_format = settings.openai_response_format
        # id(schema) → (schema, response_format, system suffix); the entry holds the schema.
        self._formats: dict[int, tuple[dict[str, Any], ResponseFormat, str]] = {}

    def send(self, *, system: str, contents: str, schema: dict[str, Any], model: str) -> LLMAnswer:
        """One chat completion: system + user messages, temperature 0, structured output."""
        response_format, suffix = self.format(schema)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system + suffix},
            {"role": "user", "content": contents},
        ]
        try:
            completion = self.client.chat.completions.create(
                model=model, messages=messages, temperature=0, response_format=response_format
            )
        except openai.APIStatusError as exc:
            raise map_status_error(exc, contents, self.key) from None
        except openai.APIConnectionError as exc:  # APITimeoutError included
            raise LLMUnavailable(
                f"OpenAI-compatible API unreachable: {type(exc).__name__}"
            ) from None
        except (openai.APIResponseValidationError, ValueError):  # ValueError: body not JSON
            raise LLMBadAnswer(
                "the OpenAI-compatible API's response is not a chat completion"
            ) from None
        return _answer(completion)

    def format(self, schema: dict[str, Any]) -> tuple[ResponseFormat, str]:
        """(response_format, system suffix) for this schema, built on first use."""
        entry = self._formats.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1], entry[2]
        if self.response_format == "json_object":
            built: tuple[ResponseFormat, str] = (
                {"type": "json_object"},
                schema_instruction(schema),
            )
        else:
            built = (
                {
                    "type": "json_schema",
                    "json_schema": {
                        "name": schema_name(schema),
                        "schema": strict_schema(schema),
                        "strict": True,
                    },
                },
                "",
            )
        if len(self._formats) >= _MAX_FORMATS:
            self._formats.clear()
        self._formats[id(schema)] = (schema, *built)
        return built

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self.client.close()


def _answer(completion: ChatCompletion) -> LLMAnswer:
    """Our answer from a chat completion; the SDK does not validate, so check its shape."""
    try:
        choice = completion.choices[0]
        message, usage = choice.message, completion.usage
        blocked = None
        if message.refusal:
            blocked = "the model refused to answer"  # its words may quote the ticket
        elif choice.finish_reason == "content_filter":
            blocked = "the provider's content filter stopped the answer"
        text = message.content
        return LLMAnswer(
            text=None if blocked or not isinstance(text, str) else text,
            prompt_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            total_tokens=usage.total_tokens if usage else None,
            blocked=blocked,
        )
    except (AttributeError, IndexError, KeyError, TypeError):
        raise LLMBadAnswer("the OpenAI-compatible API's answer has no usable choice") from None
