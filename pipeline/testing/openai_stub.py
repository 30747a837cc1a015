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
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse
from pipeline.testing.openai_responses import (
    auth_error,
    completion_response,
    error_response,
    leaks,
    request_problems,
)

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


class OpenAIStub:
    """The stub server; `api_key=None` accepts any bearer token."""

    def __init__(
        self, default: Responder | None = None, *, api_key: str | None = "sk-test"
    ) -> None:
        self.api_key = api_key
        self.default: Responder = default or classify_request
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self._script: deque[StubResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the SDK (`TRIAGE_OPENAI_BASE_URL`)."""
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def enqueue(self, *responses: StubResponse) -> None:
        """Answer the next valid requests with these, in order."""
        with self._lock:
            self._script.extend(responses)

    def recorded(self) -> list[RecordedRequest]:
        """A copy of every request received so far."""
        with self._lock:
            return list(self.requests)

    def _answer(self, request: RecordedRequest) -> StubResponse:
        with self._lock:
            self.requests.append(request)
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
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        return scripted if scripted is not None else self.default(request)

    def start(self, port: int = 0) -> OpenAIStub:
        """Listen on 127.0.0.1 (`port` 0: a free one) in a background thread."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = RecordedRequest(
                    method=method,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=self.rfile.read(length) if length else b"",
                    received_at=time.monotonic(),
                    received_wall=time.time(),
                )
                answer = stub._answer(request)
                if answer.hold_s:
                    stub._stopping.wait(answer.hold_s)
                body = answer.body
                data = (
                    body
                    if isinstance(body, bytes)
                    else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                )
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return  # silence: the default handler prints every request line

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="openai-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held answers and shut the server down."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


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
