"""A stub OpenAI API on 127.0.0.1: checks what the SDK sends, records it, answers as OpenAI does.

`POST /v1/chat/completions` (https://platform.openai.com/docs/api-reference/chat/create) with
`Authorization: Bearer KEY`: a wrong or missing key is answered 401, a request strict
structured outputs or JSON mode would refuse 400 (`pipeline.testing.openai_responses`); then
scripted answers in order, then `default`, which classifies from the request itself. Every
request is recorded, with what was wrong in it and any e-mail address or card number it
carried (`problems`). Standard library only. Run alone for `triage demo`:
`python -m pipeline.testing.openai_stub --port 8089 --api-key sk-test`.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse
from pipeline.testing.openai_responses import (
    auth_error,
    completion_response,
    error_response,
    leaks,
    request_problems,
)
from pipeline.testing.stub_server import StubServer

Responder = Callable[[RecordedRequest], StubResponse]
PATH = "/v1/chat/completions"
_TICKET = re.compile(r'<ticket(?: id="([^"]*)")?>(.*?)</ticket>', re.S)


def request_schema(request: RecordedRequest) -> dict[str, Any]:
    """The answer schema: from response_format, or (JSON mode) the one in the system message."""
    body = request.body if isinstance(request.body, dict) else {}
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    if isinstance(spec.get("schema"), dict):
        return dict(spec["schema"])
    system = next(
        (m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system"), ""
    )
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(system) if char == "{"):
        try:
            found, _ = decoder.raw_decode(system, start)
        except ValueError:
            continue
        if isinstance(found, dict) and "properties" in found:
            return found
    return {}


def _answer_for(text: str, categories: list[str]) -> dict[str, Any]:
    """A plausible answer: the category named in the ticket, else the first one."""
    lowered = text.lower()
    category = next(
        (c for c in categories if c.lower() in lowered), categories[0] if categories else "billing"
    )
    return {
        "category": category,
        "urgency": "normal",
        "language": "en",
        "confidence": 0.93,
        "urgency_confidence": 0.8,
        "sentiment": "negative",
        "sentiment_confidence": 0.75,
        "reason": "the stub matched the category name",
    }


def classify_request(request: RecordedRequest) -> StubResponse:
    """The default responder: a valid answer to a single or grouped request."""
    schema = request_schema(request)
    body = request.body if isinstance(request.body, dict) else {}
    user = next(
        (m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"), ""
    )
    model = str(body.get("model") or "gpt-4.1-mini")
    properties = schema.get("properties") or {}
    if "results" in properties:
        item = properties["results"].get("items", {}).get("properties", {})
        categories = list(item.get("category", {}).get("enum", []))
        results = [{"id": i, **_answer_for(t, categories)} for i, t in _TICKET.findall(user)]
        return completion_response(json.dumps({"results": results}), model=model)
    categories = list(properties.get("category", {}).get("enum", []))
    return completion_response(json.dumps(_answer_for(user, categories)), model=model)


class OpenAIStub(StubServer):
    """The stub server; `api_key=None` accepts any bearer token."""

    name = "openai-stub"
    url_suffix = "/v1"  # TRIAGE_OPENAI_BASE_URL

    def __init__(
        self, default: Responder | None = None, *, api_key: str | None = "sk-test"
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.default: Responder = default or classify_request
        self.problems: list[str] = []

    def _answer(self, request: RecordedRequest) -> StubResponse:
        self._record(request)
        if request.method != "POST" or request.path.split("?")[0] != PATH:
            return error_response(404, f"Invalid URL ({request.method} {request.path})")
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if not token or (self.api_key is not None and token != self.api_key):
            return auth_error(token)
        problems = request_problems(request)
        with self._lock:
            self.problems += problems + leaks(request)
        if problems:
            return error_response(400, "; ".join(problems), param="response_format")
        scripted = self._next_scripted()
        return scripted if scripted is not None else self.default(request)


@contextmanager
def running_stub(
    default: Responder | None = None, *, api_key: str | None = "sk-test"
) -> Iterator[OpenAIStub]:
    """A started stub, stopped afterwards."""
    stub = OpenAIStub(default, api_key=api_key).start()
    try:
        yield stub
    finally:
        stub.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted, then print what was received and what was wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default="sk-test", help="the bearer token to accept")
    args = parser.parse_args(argv)
    stub = OpenAIStub(api_key=args.api_key).start(args.port)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(f"openai stub: {stub.url} (key {args.api_key!r}); Ctrl-C stops", flush=True)
    done.wait()
    stub.stop()
    problems = "; ".join(stub.problems[:5]) or "none"
    print(f"openai stub: {len(stub.requests)} requests; problems: {problems}", flush=True)


if __name__ == "__main__":
    main()
