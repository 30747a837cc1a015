"""`triage worker` picks processes for history and threads for live tickets."""

from __future__ import annotations

import os

import pytest

from triage_cli.servers import worker_pool

CORES = os.cpu_count() or 1


@pytest.mark.parametrize(
    ("queues", "expected"),
    [
        ("backfill", ("prefork", CORES)),
        (" backfill ", ("prefork", CORES)),
        ("live", ("threads", 8)),
        ("live,backfill", ("threads", 8)),
        ("backfill,live", ("threads", 8)),
    ],
)
def test_the_defaults_follow_the_queues(queues: str, expected: tuple[str, int]) -> None:
    assert worker_pool(queues, None, None) == expected


def test_given_options_always_win() -> None:
    assert worker_pool("backfill", "threads", 2) == ("threads", 2)
    assert worker_pool("backfill", "threads", None) == ("threads", 8)
    assert worker_pool("live", "prefork", None) == ("prefork", 8)
    assert worker_pool("backfill", None, 3) == ("prefork", 3)


def test_a_backfill_on_an_llm_waits_on_threads() -> None:
    # History classified by an LLM is I/O-bound: threads, like live work.
    assert worker_pool("backfill", None, None, cpu_bound=False) == ("threads", 8)
    assert worker_pool("backfill", "prefork", None, cpu_bound=False) == ("prefork", 8)
