"""Stub department receivers: a local HTTP server that records (and can refuse) deliveries."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class ReceivedDelivery:
    """One POST a department received."""

    department: str
    idempotency_key: str | None
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StubDepartments:
    """Records deliveries per department; `fail_with` makes it answer an error status instead."""

    received: list[ReceivedDelivery] = field(default_factory=list)
    fail_with: int | None = None
    delay_s: float = 0.0  # answer this late (a slow department)
    started: int = 0  # requests that arrived (answered or not yet)
    # `triage receiver`: told of each delivery as it lands, and keeps only the newest ones
    # (a receiver left running for days must not grow without bound).
    on_delivery: Callable[[ReceivedDelivery], None] | None = None
    keep_last: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 2 or parts[0] != "departments":
            return Response("not found", status=404)(environ, start_response)
        with self._lock:
            self.started += 1
        if self.fail_with is not None:
            return Response("unavailable", status=self.fail_with)(environ, start_response)
        if self.delay_s:
            time.sleep(self.delay_s)
        delivery = ReceivedDelivery(
            department=parts[1],
            idempotency_key=request.headers.get("Idempotency-Key"),
            headers=dict(request.headers),
            body=json.loads(request.get_data()),
        )
        with self._lock:
            self.received.append(delivery)
            if self.keep_last is not None and len(self.received) > self.keep_last:
                del self.received[: len(self.received) - self.keep_last]
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return Response('{"ok":true}', status=200, mimetype="application/json")(
            environ, start_response
        )

    def snapshot(self) -> list[ReceivedDelivery]:
        """A copy of every delivery received so far."""
        with self._lock:
            return list(self.received)

    def duplicates(self) -> int:
        """Deliveries that repeated an Idempotency-Key already received."""
        counts = Counter(d.idempotency_key for d in self.snapshot())
        return sum(n - 1 for n in counts.values() if n > 1)


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a WSGI app on a free local port in a thread; yields its base URL."""
    server: BaseWSGIServer = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"wsgi-{port}")
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
