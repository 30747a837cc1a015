"""Running the long-lived processes: the API under gunicorn, a Celery worker, Celery beat."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):
    """Gunicorn serving the ingest API's app factory (each worker builds its own app)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ingest_api.app import create_app
        from pipeline.settings import Settings
        from pipeline.telemetry.logs import configure_logging

        settings = Settings()
        configure_logging(settings)
        return create_app(settings)


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
