"""A stub Gemini API on 127.0.0.1: records every request, answers from a script."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    received_at: float  # time.monotonic() on arrival
    received_wall: float  # time.time() on arrival: comparable with other processes' clocks

    @property
    def body(self) -> Any:
        """The JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        """The raw body as text (to search for values that must never be sent)."""
        return self.raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class StubResponse:
    """What the stub answers: status, JSON (or raw text) body, headers; optionally held back."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold_s: float = 0.0  # answer only after this long (or at stop): for client timeouts


def classification_json(
    category: str = "billing",
    urgency: str = "normal",
    language: str = "en",
    confidence: float = 0.93,
    reason: str = "the customer asks about a charge",
) -> str:
    """The text a well-behaved model answers."""
    return json.dumps(
        {
            "category": category,
            "urgency": urgency,
            "language": language,
            "confidence": confidence,
            "reason": reason,
        }
    )


def text_response(
    text: str, *, prompt_tokens: int = 321, output_tokens: int = 42, finish: str = "STOP"
) -> StubResponse:
    """A generateContent answer whose only candidate says `text`, with usage metadata."""
    return StubResponse(
        body={
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "stub-response",
        }
    )


def error_response(
    code: int,
    status: str,
    message: str = "stub error",
    *,
    retry_delay: str | None = None,
    headers: dict[str, str] | None = None,
) -> StubResponse:
    """A Google API error body, with RetryInfo when `retry_delay` is given ("2s")."""
    details: list[dict[str, Any]] = []
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return StubResponse(status=code, body={"error": error}, headers=headers or {})


Responder = Callable[[RecordedRequest], StubResponse]


class GeminiStub:
    """The stub server: `script` answers come first, in order; then `default` answers."""

    def __init__(self, default: Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Responder = default or (lambda _request: text_response(classification_json()))
        self._script: deque[StubResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the SDK (`HttpOptions(base_url=...)`)."""
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def enqueue(self, *responses: StubResponse) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._script.extend(responses)

    def recorded(self) -> list[RecordedRequest]:
        """A copy of every request received so far."""
        with self._lock:
            return list(self.requests)

    def _answer(self, request: RecordedRequest) -> StubResponse:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        return scripted if scripted is not None else self.default(request)

    def start(self) -> GeminiStub:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
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
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test): nothing to answer
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                # Silence: the default handler prints every request line to stderr.
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll keeps shutdown() quick (the default waits up to 0.5 s).
            target=self._server.serve_forever,
            args=(0.02,),
            name="gemini-stub",
            daemon=True,
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
def running_stub(default: Responder | None = None) -> Iterator[GeminiStub]:
    """A started stub, stopped afterwards."""
    stub = GeminiStub(default).start()
    try:
        yield stub
    finally:
        stub.stop()
