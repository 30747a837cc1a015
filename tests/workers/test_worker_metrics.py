"""A prefork worker's metrics: every pool child's stage counts add up on its metrics port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.rig import FaultRig, fault_rig
from tests.support.brokers import RedisBroker
from tests.support.processes import free_port
from tests.support.servers import redis_url
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(tmp_path: Path, fresh_postgres_url: str) -> Iterator[FaultRig]:
    broker = redis_url(8)
    redis.Redis.from_url(broker).flushdb()
    with fault_rig(tmp_path, fresh_postgres_url, RedisBroker(broker)) as rig:
        yield rig
    redis.Redis.from_url(broker).flushdb()


def stage_counts(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "triage_stage_seconds_count":
                stage = sample.labels["stage"]
                counts[stage] = counts.get(stage, 0) + sample.value
    return counts


def test_prefork_children_metrics_add_up(rig: FaultRig, tmp_path: Path) -> None:
    port = free_port()
    rig.env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "worker-metrics")
    (tmp_path / "worker-metrics").mkdir()
    rig.start(
        "worker",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
        "--metrics-port",
        str(port),
    )
    ids = rig.submit(40, prefix="metrics")
    rig.wait_drained(ids, timeout=120)

    seen: list[object] = []

    def all_counted() -> dict[str, float] | None:
        try:
            counts = stage_counts(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        except httpx.HTTPError as error:
            seen.append(repr(error))
            return None
        seen.append(counts)
        wanted = all(counts.get(stage, 0) >= 40 for stage in ("classify", "route", "audit"))
        return counts if wanted else None

    try:
        counts = wait_for(all_counted, timeout=30, what="every stage run counted")
    except AssertionError as error:
        raise AssertionError(f"{error}; last scrape: {seen[-1:]}") from None
    assert counts["classify"] == counts["audit"] == 40
    children = {p.name for p in (tmp_path / "worker-metrics").glob("histogram_*.db")}
    assert len(children) >= 2, children  # both pool processes ran stages and wrote metrics
