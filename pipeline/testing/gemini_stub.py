"""A stub Gemini API on 127.0.0.1: records every request, answers from a script.

It answers `models/{model}:generateContent` (https://ai.google.dev/api/generate-content) with
the bodies of `pipeline.testing.gemini_responses`, and serves the Batch API the SDK speaks in
Gemini Developer API mode (`pipeline.testing.gemini_batches`, https://ai.google.dev/api/batch-api).
Standard library only (http.server): tests and the bench share it, and no web framework.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.testing.gemini_batches import BatchAPI
from pipeline.testing.gemini_responses import (
    RecordedRequest,
    StubResponse,
    classification_json,
    text_response,
)

Responder = Callable[[RecordedRequest], StubResponse]


class GeminiStub(BatchAPI):
    """The stub server: `script` answers come first, in order; then `default` answers."""

    def __init__(self, default: Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Responder = default or (lambda _request: text_response(classification_json()))
        self._script: deque[StubResponse] = deque()
        self._lock = threading.Lock()
        self._init_batches()
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
        batch = self._batch_answer(request)
        if batch is not None:
            return batch
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
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=method,
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
