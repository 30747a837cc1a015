"""Flower against the test broker: every stage of every ticket shows as SUCCESS, and is counted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.rig import FaultRig, fault_rig
from tests.support.brokers import RedisBroker
from tests.support.processes import free_port, wait_until_serving
from tests.support.servers import redis_url
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
FLOWER_AUTH = ("ops", "flower-test-password")
STAGES = ("triage.classify", "triage.route", "triage.audit")


@pytest.fixture
def flower_rig(tmp_path: Path, fresh_postgres_url: str) -> Iterator[FaultRig]:
    broker = redis_url(10)
    redis.Redis.from_url(broker).flushdb()
    with fault_rig(tmp_path, fresh_postgres_url, RedisBroker(broker)) as rig:
        rig.env["TRIAGE_FLOWER_BASIC_AUTH"] = ":".join(FLOWER_AUTH)
        yield rig
    redis.Redis.from_url(broker).flushdb()


def succeeded_tasks(client: httpx.Client) -> set[tuple[str, str]]:
    """(task name, ticket id) of every task Flower saw succeed.

    A task that was already running when Flower turned events on has a `task-succeeded` event
    but no `task-received` one, so Flower knows no arguments for it: it names no ticket.
    """
    tasks = client.get("/api/tasks", params={"limit": 1000}).json().values()
    return {
        (t["name"], t["args"].strip("[]()'\", "))
        for t in tasks
        if t["state"] == "SUCCESS" and t.get("args") is not None
    }


def test_flower_sees_each_stage_succeed(flower_rig: FaultRig) -> None:
    rig = flower_rig
    port = free_port()
    flower = rig.start("flower", "flower", "--address", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{base}/healthcheck", flower, rig.logs / "flower.log")
    rig.start_worker()
    with httpx.Client(base_url=base, auth=FLOWER_AUTH, timeout=10) as client:
        assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 401  # auth is on
        wait_for(
            lambda: client.get("/api/workers", params={"refresh": "true"}).json(),
            timeout=60,
            what="flower to see the worker",
        )
        # Workers start with task events off; Flower turns them on at runtime (its
        # `enable_events` broadcast, every 5 s). Probe until a whole ticket shows: from then
        # on every ticket must.
        probes: list[str] = []

        def task_events_on() -> bool:
            if any(("triage.audit", probe) in succeeded_tasks(client) for probe in probes):
                return True
            probes.extend(rig.submit(1, prefix=f"probe-{len(probes)}"))
            return False

        wait_for(task_events_on, timeout=60, interval=1, what="flower to turn task events on")
        ids = rig.submit(20, prefix="flower")
        rig.wait_drained(ids, timeout=120)

        def every_stage_succeeded() -> bool:
            seen = succeeded_tasks(client)
            return all((stage, ticket) in seen for ticket in ids for stage in STAGES)

        wait_for(every_stage_succeeded, timeout=60, what="flower to record every stage")
        tasks = client.get("/api/tasks", params={"limit": 1000}).json().values()
        metrics = client.get("/metrics").text

    ours = [t for t in tasks if t["name"] in STAGES]
    # No ticket text in what Flower shows: arguments are ids, results short outcomes.
    subjects = {"Charged twice", "parcel", "pairing", "password"}
    assert not any(
        word in str(t.get("args")) + str(t.get("result")) for t in ours for word in subjects
    )
    succeeded: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if (
                sample.name == "flower_events_total"
                and sample.labels.get("type") == "task-succeeded"
            ):
                task = sample.labels["task"]
                succeeded[task] = succeeded.get(task, 0) + sample.value
    assert all(succeeded.get(stage, 0) >= len(ids) for stage in STAGES), succeeded
    assert os.path.exists(rig.logs / "flower.log")
