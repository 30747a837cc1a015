"""What the stub Anthropic Messages API answers: Messages with a tool call, errors (pure).

Shapes from the API reference: the Message object and its `usage`
(https://docs.anthropic.com/en/api/messages), the `tool_use` content block
(https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use), the error body
`{"type": "error", "error": {"type", "message"}, "request_id"}` with its statuses
(https://docs.anthropic.com/en/api/errors), and the rate-limit headers
(https://docs.anthropic.com/en/api/rate-limits).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse

__all__ = [
    "RecordedRequest",
    "StubResponse",
    "answer",
    "default_answer",
    "error_response",
    "message_response",
    "rate_limited",
    "tool_use_message",
]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
TICKET_ID = re.compile(r'<ticket id="([^"]*)">')


def answer(category: str = "billing", **fields: Any) -> dict[str, Any]:
    """A well-behaved answer (the tool's input)."""
    base = {
        "category": category,
        "urgency": "normal",
        "language": "en",
        "confidence": 0.93,
        "urgency_confidence": 0.8,
        "sentiment": "negative",
        "sentiment_confidence": 0.75,
        "reason": "the customer asks about a charge",
    }
    return base | fields


def tool_use_message(
    tool_input: Any,
    *,
    model: str = "claude-haiku-4-5",
    input_tokens: int = 321,
    output_tokens: int = 42,
    stop_reason: str = "tool_use",
    name: str = "record_triage",
) -> StubResponse:
    """A Message whose content is one `tool_use` block with `tool_input`, and its usage."""
    block = {"type": "tool_use", "id": "toolu_stub01", "name": name, "input": tool_input}
    return message_response(
        [block],
        model=model,
        stop_reason=stop_reason,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def message_response(
    content: list[dict[str, Any]],
    *,
    model: str = "claude-haiku-4-5",
    stop_reason: str = "end_turn",
    input_tokens: int = 321,
    output_tokens: int = 42,
) -> StubResponse:
    """A Message with these content blocks (a text block: no tool call; stop_reason refusal)."""
    return StubResponse(
        body={
            "id": "msg_stub01",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
        headers={"request-id": "req_stub01"},
    )


def error_response(status: int, message: str = "stub error", **headers: str) -> StubResponse:
    """The documented error body for `status`, with `headers` (underscores become dashes)."""
    kind = ERROR_TYPES.get(status, "api_error")
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_stub01",
    }
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return StubResponse(status=status, body=body, headers={"request-id": "req_stub01", **named})


def rate_limited(retry_after: float = 0.0, *, reset_in: float = 30.0) -> StubResponse:
    """A 429 as Anthropic sends it: `retry-after` and the exhausted requests window."""
    reset = (datetime.now(UTC) + timedelta(seconds=reset_in)).isoformat(timespec="seconds")
    return error_response(
        429,
        "Number of request tokens has exceeded your per-minute rate limit",
        retry_after=f"{retry_after:g}",
        anthropic_ratelimit_requests_limit="50",
        anthropic_ratelimit_requests_remaining="0",
        anthropic_ratelimit_requests_reset=reset.replace("+00:00", "Z"),
    )


def default_answer(request: RecordedRequest) -> StubResponse:
    """What a sensible Claude answers: the category named in the ticket (else the first one),
    one entry per ticket id for the grouped schema."""
    body = request.body
    schema = body["tools"][0]["input_schema"]
    text = body["messages"][0]["content"]
    text = text if isinstance(text, str) else json.dumps(text)
    if "results" in schema.get("properties", {}):
        enum = schema["properties"]["results"]["items"]["properties"]["category"]["enum"]
        ids = TICKET_ID.findall(text)
        return tool_use_message({"results": [{"id": i, **answer(enum[0])} for i in ids]})
    enum = schema["properties"]["category"]["enum"]
    named = [c for c in enum if c.lower() in text.lower()]
    return tool_use_message(answer((named or enum)[0]), model=body["model"])
