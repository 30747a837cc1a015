"""A stub Anthropic Messages API on 127.0.0.1: checks what the SDK sends, answers as Claude does.

It follows the API reference:
- POST /v1/messages and the Message it returns, with `usage`: https://docs.anthropic.com/en/api/messages
- authentication (`x-api-key`, or `Authorization: Bearer` as the 2.x SDKs send it) and the
  required `anthropic-version` header: https://docs.anthropic.com/en/api/versioning
- forced tool use (`tools`, `tool_choice` of type `tool`, the `tool_use` block):
  https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
- error bodies `{"type": "error", "error": {"type", "message"}, "request_id"}` and their
  statuses (529 overloaded_error): https://docs.anthropic.com/en/api/errors
- rate-limit headers (`retry-after`, `anthropic-ratelimit-*`): https://docs.anthropic.com/en/api/rate-limits
Standard library only. Standalone: `python -m pipeline.testing.anthropic_stub --port 8788`.
"""

from __future__ import annotations

import argparse
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.testing.anthropic_responses import (
    TICKET_ID,
    RecordedRequest,
    StubResponse,
    default_answer,
    error_response,
)
from pipeline.testing.stub_server import StubServer

Responder = Callable[[RecordedRequest], StubResponse]
SAMPLING = ("temperature", "top_p", "top_k")  # refused from version 2026-10-21 on
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def leaks_pii(text: str) -> bool:
    """Whether `text` holds an e-mail address or a card number (Luhn-valid, ids ignored)."""
    text = TICKET_ID.sub("", text.replace('\\"', '"'))
    cards = (re.sub(r"[ -]", "", m.group()) for m in _CARD.finditer(text))
    return bool(_EMAIL.search(text)) or any(_luhn(card) for card in cards)


def check(request: RecordedRequest, api_key: str | None) -> StubResponse | None:
    """The error the service would answer for this request, or None when it is acceptable."""
    if request.method != "POST" or request.path.split("?")[0] != "/v1/messages":
        return error_response(404, f"Not found: {request.method} {request.path}")
    headers = request.headers
    sent_key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    if not sent_key or (api_key is not None and sent_key != api_key):
        return error_response(401, "invalid x-api-key")
    version = headers.get("anthropic-version")
    if not version:
        return error_response(400, "anthropic-version: header is required")
    body = request.body
    if not isinstance(body, dict):
        return error_response(400, "The request body is not valid JSON.")
    problems = [
        f"{name}: Extra inputs are not permitted"
        for name in SAMPLING
        if name in body and version >= "2026-10-21"
    ]
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        problems.append("max_tokens: Field required")
    messages = body.get("messages")
    if not (
        isinstance(messages, list) and len(messages) == 1 and messages[0].get("role") == "user"
    ):
        problems.append("stub: expected one user message")
    if not isinstance(body.get("system"), str) or not body["system"]:
        problems.append("stub: expected the system prompt in `system`")
    tools = body.get("tools")
    if not (
        isinstance(tools, list)
        and len(tools) == 1
        and isinstance(tools[0], dict)
        and tools[0].get("input_schema", {}).get("type") == "object"
    ):
        problems.append("stub: expected one tool with an object input_schema")
    elif body.get("tool_choice") != {"type": "tool", "name": tools[0].get("name")}:
        problems.append("stub: expected tool_choice forcing the tool")
    if leaks_pii(request.text):
        problems.append("stub: an e-mail address or card number reached the provider")
    return error_response(400, "; ".join(problems)) if problems else None


class AnthropicStub(StubServer):
    """The stub server: checks each request, then `script` answers in order, then `default`."""

    name = "anthropic-stub"

    def __init__(self, default: Responder | None = None, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key  # None: any non-empty key is accepted
        self.refused: list[StubResponse] = []  # what `check` answered instead of the script
        self.default: Responder = default or default_answer

    def _answer(self, request: RecordedRequest) -> StubResponse:
        refusal = check(request, self.api_key)
        with self._lock:
            self.requests.append(request)
            if refusal is not None:
                self.refused.append(refusal)
                return refusal
        scripted = self._next_scripted()
        return scripted if scripted is not None else self.default(request)


@contextmanager
def running_stub(
    default: Responder | None = None, *, api_key: str | None = None
) -> Iterator[AnthropicStub]:
    """A started stub, stopped afterwards."""
    stub = AnthropicStub(default, api_key=api_key).start()
    try:
        yield stub
    finally:
        stub.stop()


def main() -> None:
    """Serve the stub until interrupted (for `triage demo` against it by hand)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args()
    stub = AnthropicStub(api_key=args.api_key).start(args.port)
    print(f"anthropic stub on {stub.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
