"""Running the long-lived processes: the API (granian or gunicorn), a Celery worker, beat."""

from __future__ import annotations

import json
import os
from typing import Any

from gunicorn.app.base import BaseApplication

# The errors gunicorn answers itself (before Flask sees the request), as our JSON codes.
SERVER_ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def json_server_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, answering our `{"error": ...}` JSON instead of HTML.

    The message is gunicorn's reason phrase only: its detail can echo request bytes.
    """
    from gunicorn import util

    code = SERVER_ERROR_CODES.get(status_int, "http_error")
    body = json.dumps({"error": {"code": code, "message": reason, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def patch_for_gevent() -> None:
    """gevent's monkey-patching, in the master before the store is opened (workers inherit it).

    psycopg chooses a cooperative wait only if `select` is patched when it is imported; ssl
    is imported earlier by the CLI, unused by the API's own sockets (libpq does its own TLS).
    """
    import warnings

    from gevent import monkey

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Monkey-patching ssl after ssl")
        monkey.patch_all()


def gunicorn_options(
    *,
    bind: str,
    workers: int,
    threads: int,
    connections: int,
    worker_class: str,
    control_socket: str | None,
) -> dict[str, Any]:
    """gunicorn's settings for `triage api` (gevent: a slow client holds a greenlet only)."""
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync" if worker_class == "gthread" and threads <= 1 else worker_class,
        "accesslog": None,
        "graceful_timeout": 30,
        "timeout": 60,
        "child_exit": gunicorn_child_exit,
    }
    if worker_class == "gthread":
        options["threads"] = threads
    if worker_class == "gevent":
        # Requests each worker runs at once (greenlets); idle and slow sockets cost no thread.
        options["worker_connections"] = connections
    if control_socket:
        options["control_socket"] = control_socket
    else:
        options["control_socket_disable"] = True
    return options


class GunicornServer(BaseApplication):
    """Gunicorn serving the ingest API's app factory (each worker builds its own app)."""

    def __init__(self, options: dict[str, Any]) -> None:
        from gunicorn import util

        self.options = options
        util.write_error = json_server_error  # 400/414/431 from the parser: JSON, not HTML
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ingest_api.wsgi import build

        return build()


# A client has this long to send its request headers; past it granian closes the socket.
HEADER_READ_TIMEOUT_MS = 10_000


def run_granian(*, bind: str, workers: int, threads: int) -> None:
    """Serve the API under granian: connections live on its Rust event loop, not on threads.

    A slow or idle client costs a socket, never one of the `threads` that run Flask; the
    body is read before the app runs. Errors granian answers itself (a malformed request
    line, over 100 headers) are bare status lines with no body: nothing is echoed.
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    host, _, port = bind.rpartition(":")
    Server(
        "ingest_api.wsgi:build",
        address=host or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        factory=True,
        workers=workers,
        blocking_threads=threads,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        respawn_failed_workers=True,
        log_access=False,
    ).serve()


def worker_pool(
    queues: str, pool: str | None, concurrency: int | None, *, cpu_bound: bool = True
) -> tuple[str, int]:
    """The pool and concurrency a worker runs with when its options leave them out.

    A worker of the backfill queue alone with the local classifier (`cpu_bound`) spends its
    time in the model and bulk statements, holding the GIL: a process per core. Any worker
    that waits on LLMs and departments: 8 threads.
    """
    backfill_only = {q.strip() for q in queues.split(",") if q.strip()} == {"backfill"}
    processes = backfill_only and cpu_bound
    chosen = pool or ("prefork" if processes else "threads")
    if concurrency is not None:
        return chosen, concurrency
    return chosen, (os.cpu_count() or 1) if chosen == "prefork" and processes else 8


def worker_argv(queues: str, pool: str, concurrency: int, loglevel: str) -> list[str]:
    """Celery worker arguments for our options (task events stay off until Flower asks)."""
    return [
        "worker",
        f"--queues={queues}",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
    ]


def prepare_metrics_dir(role: str) -> str:
    """Point prometheus_client's multiprocess mode at a fresh directory (before any fork)."""
    import os
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix=f"triage-{role}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


def serve_worker_metrics(port: int) -> None:
    """Expose this worker's metrics (all its pool processes summed) on a local port."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, registry=registry)


def gunicorn_child_exit(server: Any, worker: Any) -> None:
    """Gunicorn hook: forget a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
