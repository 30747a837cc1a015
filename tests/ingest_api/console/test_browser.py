"""The console in a real headless Chromium (Playwright) against real `triage api` and worker.

The store (a SQLite file) holds tickets in every state; the browser signs in with a reviewer
key, clears a review queue of 20 by keyboard only, replays a failure, searches, opens a trail,
draws the quality charts and signs out; a reader cannot correct; no request leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from pipeline.data.samples import load_sample_tickets
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketSubmission
from pipeline.domain.operator import Role
from pipeline.domain.routing import load_routing
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.support.processes import free_port, triage_process, wait_until_serving
from tests.support.servers import redis_url
from tests.support.tickets import force_status
from tests.support.waiting import wait_for
from triage_cli.demo import demo_routing_file
from triage_cli.stub_departments import StubDepartments, serve_in_thread

CHROMIUM = "/usr/bin/chromium"
REDIS_DB = 15  # this suite's Redis database
QUEUE = 20
DOCS = Path(__file__).resolve().parents[3] / "docs"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests (.ci/run installs it)")
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True
    )

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Rig:
    base: str
    store: TicketStore
    keys: dict[str, str]
    departments: StubDepartments
    queue: list[str]
    failed: list[str]
    shots: Path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    import redis

    broker = redis_url(REDIS_DB)
    redis.Redis.from_url(broker).flushdb()
    database = f"sqlite:///{tmp_path / 'console.db'}"
    store = open_store(Settings(database_url=database))
    pepper = TEST_PEPPER.encode()
    keys = {
        role.value: create_key(store, pepper, f"{role.value}-1", role, "api")
        for role in (Role.admin, Role.reviewer, Role.reader)
    }
    departments = StubDepartments()
    with serve_in_thread(departments) as departments_url:
        env = {
            "TRIAGE_DATABASE_URL": database,
            "TRIAGE_BROKER_URL": broker,
            "TRIAGE_API_KEY_PEPPER": TEST_PEPPER,
            "TRIAGE_ROUTING_FILE": str(demo_routing_file(tmp_path, departments_url)),
            "TRIAGE_CLASSIFIER": "local",
            "TRIAGE_CONFIDENCE_THRESHOLD": "1.0",  # every machine decision waits for a person
            "TRIAGE_RATE_LIMIT": "10000/second",
            "TRIAGE_LOG_LEVEL": "WARNING",
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with (
            triage_process(
                ["worker", "--pool", "threads", "--concurrency", "4", "--metrics-port", "0"],
                env,
                tmp_path / "worker.log",
            ),
            triage_process(
                ["api", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "api.log"
            ) as api,
        ):
            wait_until_serving(f"{base}/healthz", api, tmp_path / "api.log")
            ids = _post_tickets(base, keys["admin"], QUEUE + 4)
            wait_for(
                lambda: store.count_by_status(ids).get(TicketStatus.needs_review.value) == len(ids),
                timeout=120,
                interval=0.3,
                what="every ticket in needs_review",
            )
            failed = ids[QUEUE : QUEUE + 3]
            for ticket_id in failed:
                force_status(
                    store,
                    ticket_id,
                    TicketStatus.failed,
                    failed_stage="route",
                    last_error="HTTP 400 from department finance: unknown customer",
                )
            force_status(store, ids[-1], TicketStatus.done, department="finance")
            _received(store)  # one the pipeline has not seen yet (nothing enqueued it)
            shots = tmp_path / "screenshots"
            shots.mkdir()
            yield Rig(base, store, keys, departments, ids[:QUEUE], failed, shots)


def _post_tickets(base: str, key: str, count: int) -> list[str]:
    samples = load_sample_tickets()[:count]
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
        answers = [client.post("/tickets", json=s.as_ingest_payload()) for s in samples]
    assert [a.status_code for a in answers] == [202] * count, answers[-1].text
    return [str(a.json()["id"]) for a in answers]


def _received(store: TicketStore) -> None:
    body = {"subject": "Just arrived", "description": "Not classified yet", "customer_id": "c"}
    store.accept(
        TicketSubmission.model_validate(body), source="api", idempotency_key="r1", payload_hash="x"
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page(browser: Any, outside: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1200, "height": 900})

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_local)
    return context.new_page()


def _shot(rig: Rig, page: Any, name: str, docs_name: str | None = None) -> None:
    path = rig.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=docs_name is None)
    if docs_name and os.environ.get("CONSOLE_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOCS / docs_name)


def _sign_in(page: Any, rig: Rig, role: str) -> None:
    page.goto(f"{rig.base}/console/login")
    page.fill("input[name=api_key]", rig.keys[role])
    page.press("input[name=api_key]", "Enter")
    page.wait_for_url(f"{rig.base}/console/review")


def _cards(page: Any) -> int:
    return int(page.locator("#queue .card").count())


def test_reviewer_clears_the_queue_by_keyboard(rig: Rig, browser: Any) -> None:
    outside: list[str] = []
    page = _page(browser, outside)
    _sign_in(page, rig, "reviewer")
    assert _cards(page) == QUEUE
    _shot(rig, page, "review", "console-review.png")
    page.locator("body").click(position={"x": 5, "y": 5})  # keyboard focus on the page
    for i in range(QUEUE):
        if i % 4 == 1:
            page.keyboard.press("3")  # a correction: the third category
        elif i % 4 == 2:
            page.keyboard.press("j")
            page.keyboard.press("k")
        page.keyboard.press("Enter")
        # A locator, not wait_for_function: the CSP (rightly) refuses the latter's eval.
        sync_api.expect(page.locator("#queue .card")).to_have_count(QUEUE - i - 1)
    assert page.locator("#queue .empty").is_visible()

    corrected = {
        ticket_id: [e for e in rig.store.audit_trail(ticket_id) if e.event == "corrected"]
        for ticket_id in rig.queue
    }
    assert all(len(events) == 1 for events in corrected.values()), corrected
    assert {e[0].detail["by"] for e in corrected.values()} == {"key:reviewer-1"}
    third = sorted(load_routing(None).categories)[2]  # key "3" on the page
    for i, ticket_id in enumerate(rig.queue):  # the queue is oldest first: posting order
        event = corrected[ticket_id][0].detail
        assert event["to"] == (third if i % 4 == 1 else event["from"]), (i, event)
    # Every decision re-routes away from the review department; the worker delivers it.
    wait_for(
        lambda: rig.store.count_by_status(rig.queue).get("done") == QUEUE,
        timeout=60,
        interval=0.3,
        what="the 20 reviewed tickets delivered and done",
    )
    delivered = {
        (d.idempotency_key or "").split(":")[0]: d.department
        for d in rig.departments.snapshot()
        if d.department != "review"
    }
    for ticket_id in rig.queue:
        assert delivered.get(ticket_id) == rig.store.get(ticket_id).department != "review"

    # Failures: replay one.
    page.click("text=Failures")
    assert page.locator(".group").count() == 1
    _shot(rig, page, "failed")
    page.locator(".replay-one").first.click()
    page.wait_for_selector(".flash.ok")
    reopened = [
        t for t in rig.failed if any(e.event == "reopened" for e in rig.store.audit_trail(t))
    ]
    assert len(reopened) == 1
    by = [e.detail["by"] for e in rig.store.audit_trail(reopened[0]) if e.event == "reopened"]
    assert by == ["key:reviewer-1"]

    # Search, then open a trail.
    page.click("text=Tickets")
    page.select_option("select[name=status]", "done")
    page.click("#search button[type=submit]")
    assert page.locator("#results tbody tr").count() >= QUEUE
    _shot(rig, page, "tickets")
    page.click(f"#results a[href$='{rig.queue[0]}']")
    assert page.locator("#trail li").count() >= 5  # received … classified … corrected … closed
    assert page.locator("#deliveries tbody tr").count() >= 2  # review, then the new department
    _shot(rig, page, "ticket")

    # Quality: every chart drawn, the corrections visible.
    page.click("text=Quality")
    for chart in ("volume", "corrections", "confidence", "latency"):
        assert page.locator(f"#chart-{chart} svg rect").count() > 0, chart
    assert "%" in page.locator("#chart-corrections").inner_text()
    _shot(rig, page, "quality", "console-quality.png")

    page.click("#sign-out")
    page.wait_for_url(f"{rig.base}/console/login")
    page.goto(f"{rig.base}/console/review")
    assert "/console/login" in page.url
    assert outside == []


def test_reader_cannot_correct_and_csrf_is_required(rig: Rig, browser: Any) -> None:
    outside: list[str] = []
    page = _page(browser, outside)
    _sign_in(page, rig, "reader")
    assert _cards(page) == QUEUE
    assert page.locator("#queue form.decide").count() == 0
    ticket_id = rig.queue[0]
    token = page.locator("body").get_attribute("data-csrf")
    url = f"{rig.base}/console/review/{ticket_id}"
    as_reader = page.request.post(url, form={"category": "billing", "csrf_token": token})
    assert as_reader.status == 403
    without_token = page.request.post(url, form={"category": "billing"})
    assert without_token.status == 403
    page.goto(f"{rig.base}/console/tickets/{ticket_id}")
    assert page.locator("#replay").count() == 0
    assert rig.store.get(ticket_id).known_category is None
    assert outside == []
