"""The Anthropic transport: one Messages request with a forced tool call, errors mapped to ours.

Structured output is a forced tool call whose `input_schema` is our answer schema
(https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use#forcing-tool-use):
the answer is the `tool_use` block's `input`, serialised back to JSON text so the shared parser
validates it like any provider's. SDK retries are off: our tasks retry, through the budget.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import MessageParam, ToolChoiceToolParam, ToolParam

from pipeline.classifiers.anthropic.retry_after import parse_retry_after
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

DEFAULT_MODEL = "claude-haiku-4-5"
TOOL_NAME = "record_triage"
TOOL_DESCRIPTION = (
    "Record the triage decision: call it once with the JSON object the instructions describe "
    "(for a group of tickets, one entry per ticket id under `results`)."
)
# 409 conflict and 529 overloaded are transient at Anthropic (https://docs.anthropic.com/en/api/errors).
TRANSIENT_CODES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
SPEND_LIMIT = "enforced_spend_limit_reached"  # a 429 that no retry fixes before next month
ANSWER_MAX_TOKENS = 512  # one answer: about 100 tokens of JSON, with headroom
TICKET_MAX_TOKENS = 160  # each entry of a grouped answer
GROUP_MAX_TOKENS = 16_000
_GROUP_MARKER = '<ticket id="'  # ticket text is neutralised: it cannot contain this marker


def make_client(settings: Settings) -> anthropic.Anthropic:
    """An Anthropic client with our key, base URL and timeout; the SDK retries nothing."""
    key = settings.anthropic_key()
    if not key:
        raise ConfigurationError("the anthropic provider needs ANTHROPIC_API_KEY")
    return anthropic.Anthropic(
        api_key=key,
        # None keeps the SDK's own ANTHROPIC_BASE_URL / default endpoint.
        base_url=settings.anthropic_base_url or None,
        timeout=settings.anthropic_timeout_s,
        max_retries=0,  # one retry layer: our task's, so every attempt passes the shared budget
    )


def max_tokens_for(contents: str) -> int:
    """Output tokens for this request: one answer, or one entry per ticket of a group."""
    tickets = contents.count(_GROUP_MARKER)
    if not tickets:
        return ANSWER_MAX_TOKENS
    return min(GROUP_MAX_TOKENS, ANSWER_MAX_TOKENS + TICKET_MAX_TOKENS * tickets)


def _provider_message(exc: anthropic.APIStatusError, sent: str, key: str | None) -> str:
    """The service's message, unless it could quote what we sent; never the API key."""
    message = " ".join(str(exc.api_message or "").split())[:200]
    if key and key in message:
        message = message.replace(key, "***")
    if any(sent[i : i + 24] in message for i in range(0, max(1, len(sent) - 23), 8)):
        return "(message withheld: it quotes the request)"
    return message


def map_status_error(exc: anthropic.APIStatusError, sent: str, key: str | None) -> TriageError:
    """408/409/429/5xx/529 → LLMUnavailable (retry_after; rate_limited for 429); else rejected."""
    status = exc.status_code
    label = f"{status} {exc.type or ''}".strip()
    if status == 429 and exc.error_code == SPEND_LIMIT:
        return LLMQuotaExhausted(
            f"Anthropic: quota exhausted ({label}: the spend limit is reached)", rate_limited=True
        )
    if status in TRANSIENT_CODES or 500 <= status < 600:
        return LLMUnavailable(
            f"Anthropic unavailable: {label}",
            retry_after=parse_retry_after(exc.response.headers),
            rate_limited=status == 429,
        )
    message = _provider_message(exc, sent, key)
    return LLMRejected(f"Anthropic refused the request: {label}: {message}")


def tool_answer(message: Any) -> str:
    """The forced tool call's input as JSON text; LLMRejected for a refusal, else LLMBadAnswer."""
    # getattr: the SDK builds a Message from any JSON object without validating it.
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason == "refusal":
        raise LLMRejected("Claude declined to answer (stop_reason refusal)")
    for block in getattr(message, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == TOOL_NAME:
            try:
                return json.dumps(getattr(block, "input", None), ensure_ascii=False)
            except (TypeError, ValueError):
                break
    raise LLMBadAnswer(f"Claude answered without the {TOOL_NAME} call ({stop_reason})")


class AnthropicTransport:
    """`LLMTransport` on the anthropic SDK: one client reused, each tool definition built once."""

    provider = "anthropic"

    def __init__(self, settings: Settings, *, client: anthropic.Anthropic | None = None) -> None:
        self.client = client if client is not None else make_client(settings)
        self.key = settings.anthropic_key()
        # id(schema) → (schema, tools). The entry holds the schema, so its id stays its own.
        self._tools: dict[int, tuple[dict[str, Any], list[ToolParam]]] = {}

    def send(self, *, system: str, contents: str, schema: dict[str, Any], model: str) -> LLMAnswer:
        """One Messages request forcing the `record_triage` tool (the SDK does not retry)."""
        user: MessageParam = {"role": "user", "content": contents}
        try:
            message = self.client.messages.create(
                model=model,
                max_tokens=max_tokens_for(contents),
                system=system,
                messages=[user],
                tools=self.tools(schema),
                tool_choice=ToolChoiceToolParam(type="tool", name=TOOL_NAME),
            )
        except anthropic.APIStatusError as exc:
            raise map_status_error(exc, contents, self.key) from None
        except anthropic.APIConnectionError as exc:  # APITimeoutError included
            raise LLMUnavailable(f"Anthropic unreachable: {type(exc).__name__}") from None
        except (anthropic.APIResponseValidationError, ValueError):
            raise LLMBadAnswer("Anthropic's response is not a Message") from None
        text = tool_answer(message)
        usage = getattr(message, "usage", None)
        prompt = getattr(usage, "input_tokens", None)
        output = getattr(usage, "output_tokens", None)
        return LLMAnswer(
            text=text,
            prompt_tokens=prompt,
            output_tokens=output,
            total_tokens=(prompt or 0) + (output or 0) or None,
        )

    def tools(self, schema: dict[str, Any]) -> list[ToolParam]:
        """The one tool whose input schema is `schema`, built on first use."""
        entry = self._tools.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
        tools = [ToolParam(name=TOOL_NAME, description=TOOL_DESCRIPTION, input_schema=schema)]
        if len(self._tools) >= 16:
            self._tools.clear()
        self._tools[id(schema)] = (schema, tools)
        return tools

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self.client.close()
