"""The keys' generation in Redis: every process sees a change; an outage reads as unknown."""

from __future__ import annotations

from pipeline.adapters.key_changes import InMemoryKeyChanges, RedisKeyChanges
from tests.support.processes import free_port
from tests.support.servers import redis_url

REDIS_DB = 4  # key generations and auth failures only


def test_an_announcement_moves_the_generation_every_reader_sees() -> None:
    url = redis_url(REDIS_DB)  # skips without Redis locally, fails under CI
    writer, reader = RedisKeyChanges(url), RedisKeyChanges(url)
    before = reader.generation()
    assert before is not None
    assert writer.announce() is True
    assert reader.generation() == before + 1


def test_an_unreachable_redis_reads_as_unknown_and_is_not_asked_again_at_once() -> None:
    changes = RedisKeyChanges(f"redis://127.0.0.1:{free_port()}/0")
    assert changes.generation() is None
    assert changes.announce() is False
    assert changes._paused_until > 0  # the next requests skip Redis for a few seconds


def test_the_in_memory_twin_counts_in_this_process() -> None:
    changes = InMemoryKeyChanges()
    assert changes.generation() == 0
    assert changes.announce() and changes.generation() == 1
