"""Logging: one JSON object per line in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from pipeline.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Context fields a record may carry (`extra=`); shown in text mode when present.
CONTEXT_FIELDS = ("ticket_id", "task_id", "stage")
# Celery's loggers of two INFO lines per task ("Task ... received", "Task ... succeeded").
CELERY_TASK_CHATTER = ("celery.worker.strategy", "celery.app.trace")


class ContextTextFormatter(logging.Formatter):
    """Human format, with the ticket/task ids appended when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{line} [{context}]" if context else line


def configure_logging(settings: Settings, *, stream: object = None) -> None:
    """Install one handler on the root logger, JSON or text by settings (auto: text on a TTY)."""
    out = stream or sys.stderr
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not getattr(out, "isatty", lambda: False)()
    )
    handler = logging.StreamHandler(out)  # type: ignore[arg-type]
    if use_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(ContextTextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Per-request/per-HTTP-call chatter from libraries drowns the pipeline's own events.
    for noisy in ("httpx", "httpcore", "werkzeug", "google_genai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Celery's "received"/"succeeded" lines per task repeat what our stage logs already say,
    # and cost 3% of a worker's CPU; DEBUG keeps them.
    debug = settings.log_level.upper() == "DEBUG"
    for chatter in CELERY_TASK_CHATTER:
        logging.getLogger(chatter).setLevel(logging.NOTSET if debug else logging.WARNING)
