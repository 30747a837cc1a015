"""The HTTP server every stub provider shares: records requests, answers from a script.

A stub subclasses `StubServer` and writes `_answer` (what the service would say to one
request); the server thread, the script of queued answers, the recording and the shutdown
are here once. Standard library only (http.server), like the stubs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse


class StubServer:
    """A threaded server on 127.0.0.1; `enqueue`d answers come first, in order."""

    name = "stub"
    content_type = "application/json"
    url_suffix = ""  # what the SDK expects after host:port (e.g. "/v1")

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[StubResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the SDK."""
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.url_suffix}"

    def enqueue(self, *responses: StubResponse) -> None:
        """Answer the next (acceptable) requests with these, in order."""
        with self._lock:
            self._script.extend(responses)

    def recorded(self) -> list[RecordedRequest]:
        """A copy of every request received so far."""
        with self._lock:
            return list(self.requests)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_scripted(self) -> StubResponse | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _answer(self, request: RecordedRequest) -> StubResponse:
        """What the service answers to `request` (each stub says)."""
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        """Listen on 127.0.0.1 (`port` 0: a free one) in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll keeps shutdown() quick (the default waits up to 0.5 s).
            target=self._server.serve_forever,
            args=(0.02,),
            name=self.name,
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


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle("POST")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_PUT(self) -> None:  # helpdesk write-backs (pipeline.testing.helpdesk_stubs)
            self._handle("PUT")

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
                self.send_header("Content-Type", stub.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test): nothing to answer
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return  # silence: the default handler prints every request line to stderr

    return Handler
