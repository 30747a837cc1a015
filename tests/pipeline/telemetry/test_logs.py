"""Logs: one JSON object per line with the ticket and task ids; readable text otherwise."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pipeline.settings import Settings
from pipeline.telemetry.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_ticket_and_task_ids() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=stream)
    logging.getLogger("triage.worker").warning(
        "attempt %d failed", 2, extra={"ticket_id": "t-1", "task_id": "k-9", "stage": "route"}
    )
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["message"] == "attempt 2 failed"
    assert (record["ticket_id"], record["task_id"], record["stage"]) == ("t-1", "k-9", "route")
    assert record["level"] == "WARNING" and record["logger"] == "triage.worker"


def test_text_lines_show_the_context() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="text"), stream=stream)
    logging.getLogger("triage.api").error("store unavailable", extra={"ticket_id": "t-2"})
    assert stream.getvalue().rstrip().endswith("store unavailable [ticket_id=t-2]")


def test_celery_task_chatter_is_quiet_unless_debugging() -> None:
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=io.StringIO())
    for name in ("celery.worker.strategy", "celery.app.trace"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    assert logging.getLogger("triage.worker").isEnabledFor(logging.INFO)
    configure_logging(Settings(log_format="json", log_level="DEBUG"), stream=io.StringIO())
    assert logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
