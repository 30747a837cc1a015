"""`triage api` under gunicorn with several workers: metrics are summed across processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.support.processes import free_port, triage_process, wait_until_serving


def accepted_total(metrics_text: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "triage_tickets_accepted":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0


def test_api_process_counts_tickets_across_gunicorn_workers(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'api.db'}"
    key = create_key(
        open_store(Settings(database_url=database)), TEST_PEPPER.encode(), "m", Role.admin, "api"
    )
    metrics_dir = tmp_path / "metrics"
    port = free_port()
    env = {
        "TRIAGE_DATABASE_URL": database,
        "TRIAGE_BROKER_URL": "memory://",
        "TRIAGE_API_KEY_PEPPER": TEST_PEPPER,
        "TRIAGE_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = tmp_path / "api.log"
    with triage_process(
        ["api", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"], env, log
    ) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base}/healthz", process, log)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:

            def post(i: int) -> int:
                body = {"subject": f"s{i}", "description": "d", "customer_id": "c"}
                return client.post("/tickets", json=body).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(post, range(60)))
            assert codes == [202] * 60
            scrapes = [accepted_total(client.get("/metrics").text) for _ in range(4)]

    assert scrapes == [60.0] * 4  # whichever worker answers, it reports the sum of both
    writers = {p.name for p in metrics_dir.glob("counter_*.db")}
    assert len(writers) >= 2, f"expected several gunicorn processes to write metrics: {writers}"
