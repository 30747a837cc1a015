"""What the stub OpenAI API checks in a request and answers: chat completions and error bodies.

Shapes follow the API reference: the chat completion object
(https://platform.openai.com/docs/api-reference/chat/object, with its `usage`), the error body
`{"error": {"message", "type", "param", "code"}}` and its codes
(https://platform.openai.com/docs/guides/error-codes), the rate-limit headers
(https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers), strict structured
outputs (https://platform.openai.com/docs/guides/structured-outputs#supported-schemas) and JSON
mode, which needs the word "JSON" in the messages
(https://platform.openai.com/docs/guides/structured-outputs#json-mode).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse

_IDS = itertools.count(1)
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Keywords strict mode refuses (the string lengths); the rest of our schema is in its subset.
STRICT_UNSUPPORTED = ("minLength", "maxLength")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-remaining-tokens": "199000",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-reset-tokens": "300ms",
}


def completion_response(
    text: str | None,
    *,
    model: str = "gpt-4.1-mini",
    prompt_tokens: int = 321,
    completion_tokens: int = 42,
    finish_reason: str = "stop",
    refusal: str | None = None,
) -> StubResponse:
    """A chat.completion whose only choice says `text` (or refuses), with usage."""
    number = next(_IDS)
    return StubResponse(
        body={
            "id": f"chatcmpl-stub{number}",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": text,
                        "refusal": refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_stub",
        },
        headers={"x-request-id": f"req_stub{number}", **RATE_LIMIT_HEADERS},
    )


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> StubResponse:
    """The documented error body with its status and headers."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return StubResponse(status=status, body={"error": error}, headers=headers or {})


def rate_limited(
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    reset_requests: str = "1s",
    reset_tokens: str = "6m0s",
    kind: str = "requests",
) -> StubResponse:
    """A 429 as OpenAI sends it: the rate-limit headers, and Retry-After where given."""
    headers = {
        **RATE_LIMIT_HEADERS,
        f"x-ratelimit-remaining-{kind}": "0",
        "x-ratelimit-reset-requests": reset_requests,
        "x-ratelimit-reset-tokens": reset_tokens,
    }
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    message = (
        f"Rate limit reached for gpt-4.1-mini on {kind} per min. Please try again in "
        f"{reset_requests if kind == 'requests' else reset_tokens}."
    )
    return error_response(429, message, type=kind, code="rate_limit_exceeded", headers=headers)


def server_error(status: int = 500) -> StubResponse:
    """A 5xx with the body OpenAI documents for it."""
    return error_response(
        status,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def auth_error(sent: str | None) -> StubResponse:
    """The 401 for a missing or wrong key (the message shows a masked key, as OpenAI does)."""
    if not sent:
        return error_response(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    shown = f"{sent[:3]}*****{sent[-4:]}" if len(sent) > 8 else "*****"
    return error_response(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")


def schema_problems(node: Any, where: str = "schema") -> list[str]:
    """What strict structured outputs would refuse in `node`."""
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in schema_problems(item, f"{where}[{i}]")]
    if not isinstance(node, dict):
        return []
    problems = [f"{where}: '{k}' is not permitted" for k in STRICT_UNSUPPORTED if k in node]
    properties = node.get("properties")
    if node.get("type") == "object":
        if node.get("additionalProperties") is not False:
            problems.append(
                f"{where}: 'additionalProperties' is required to be supplied and to be false"
            )
        if isinstance(properties, dict) and sorted(node.get("required") or []) != sorted(
            properties
        ):
            problems.append(f"{where}: 'required' is required to include every key in properties")
    for name, value in (properties or {}).items():
        problems += schema_problems(value, f"{where}.{name}")
    if "items" in node:
        problems += schema_problems(node["items"], f"{where}.items")
    return problems


def request_problems(request: RecordedRequest) -> list[str]:
    """Everything wrong with a chat-completion request, as the service would see it."""
    body = request.body
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems: list[str] = []
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("'model' is required")
    messages = body.get("messages")
    roles = (
        [m.get("role") for m in messages if isinstance(m, dict)]
        if isinstance(messages, list)
        else []
    )
    if roles != ["system", "user"]:
        problems.append(f"messages: expected a system then a user message, got {roles}")
    if body.get("temperature") != 0:
        problems.append("temperature: expected 0")
    format_ = body.get("response_format") or {}
    kind = format_.get("type")
    if kind == "json_schema":
        spec = format_.get("json_schema") or {}
        if not _NAME.match(str(spec.get("name", ""))):
            problems.append("response_format.json_schema.name: invalid")
        if spec.get("strict") is not True:
            problems.append("response_format.json_schema.strict: expected true")
        problems += schema_problems(spec.get("schema"), "response_format.json_schema.schema")
    elif kind == "json_object":
        if "json" not in request.text.lower():
            problems.append("'messages' must contain the word 'json' in some form")
    else:
        problems.append(f"response_format.type: expected json_schema or json_object, got {kind}")
    return problems


def leaks(request: RecordedRequest) -> list[str]:
    """Personal data that must never reach a provider: e-mail addresses, card numbers."""
    found = [f"e-mail address {m}" for m in EMAIL.findall(request.text)]
    return found + [f"card number {m}" for m in CARD.findall(request.text)]
