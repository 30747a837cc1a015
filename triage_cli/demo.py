"""`triage demo`: API, worker and stub departments in one process, sample tickets end to end."""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from celery.contrib.testing.worker import start_worker
from pydantic import SecretStr

from ingest_api.app import create_app
from pipeline.data.samples import SampleTicket, is_holdout, load_sample_tickets
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.domain.operator import Role
from pipeline.domain.routing import load_routing
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import build_services
from triage_cli.stub_departments import StubDepartments, serve_in_thread
from triage_cli.summary import LabelledOutcome, render_summary
from workers.celery_app import create_celery_app

SUBMIT_THREADS = 8


def demo_routing_file(directory: Path, departments_url: str) -> Path:
    """The default routing with every department pointed at the stub receivers."""
    table = load_routing(None)
    lines = [f'review_department = "{table.review_department}"', ""]
    for name, rule in table.categories.items():
        lines += [
            f"[categories.{name}]",
            f"description = {json.dumps(rule.description)}",
            f"department = {json.dumps(rule.department)}",
            "",
        ]
    for name in table.departments:
        lines += [f"[departments.{name}]", f'endpoint = "{departments_url}/departments/{name}"', ""]
    path = directory / "routing.demo.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextmanager
def embedded_pipeline(
    settings: Settings, worker_concurrency: int
) -> Iterator[tuple[str, TicketStore]]:
    """Start the worker thread and the API server; yields the API's base URL and the store."""
    services = build_services(settings)
    started = time.monotonic()
    classifier = services.classifier  # load (or train) the model before the clock starts
    print(
        f"demo: classifier {classifier.name} {classifier.model_version} ready in "
        f"{time.monotonic() - started:.1f} s"
    )
    celery_app = create_celery_app(settings, services=services)
    with ExitStack() as stack:
        stack.enter_context(
            start_worker(
                celery_app,
                pool="threads",
                concurrency=worker_concurrency,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=30,
            )
        )
        api = create_app(settings, services=services, celery_app=celery_app)
        yield stack.enter_context(serve_in_thread(api)), services.store


def submit_all(api_url: str, samples: list[SampleTicket], api_key: str) -> dict[str, SampleTicket]:
    """POST every sample through the HTTP API; returns ticket id → sample."""
    accepted: dict[str, SampleTicket] = {}
    headers = {"X-API-Key": api_key}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client:

        def submit(sample: SampleTicket) -> tuple[str, SampleTicket]:
            # A well-behaved producer: on 429/503 wait as told, then send the same ticket again
            # (its external_id makes the retry safe).
            for _ in range(50):
                response = client.post("/tickets", json=sample.as_ingest_payload())
                if response.status_code not in (429, 503):
                    break
                time.sleep(float(response.headers.get("Retry-After", "1")))
            response.raise_for_status()
            return response.json()["id"], sample

        with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
            for ticket_id, sample in pool.map(submit, samples):
                accepted[ticket_id] = sample
    return accepted


def run_demo(broker: str | None, database: str | None, timeout_s: float, concurrency: int) -> int:
    """Run the demo; returns the exit code (0 only if every ticket reached a final state)."""
    samples = load_sample_tickets()
    with tempfile.TemporaryDirectory(prefix="triage-demo-") as tmp:
        directory = Path(tmp)
        stub = StubDepartments()
        with serve_in_thread(stub) as departments_url:
            # Everything else (classifier, Gemini, thresholds) comes from TRIAGE_* as usual.
            settings = Settings().model_copy(
                update={
                    "database_url": database or f"sqlite:///{directory / 'triage.db'}",
                    "broker_url": broker or "memory://",
                    "routing_file": demo_routing_file(directory, departments_url),
                    # The demo mints its own keys with a throwaway pepper: nothing to configure.
                    "api_key_pepper": SecretStr(secrets.token_hex(32)),
                    "rate_limit": "2000/second",
                }
            )
            print(
                f"demo: {len(samples)} sample tickets; classifier "
                f"{settings.effective_classifier().value}; broker {_redact(settings.broker_url)}; "
                f"database {_redact(settings.database_url)}"
            )
            with embedded_pipeline(settings, concurrency) as (api_url, store):
                assert settings.api_key_pepper is not None
                producer_key = create_key(
                    store,
                    settings.api_key_pepper.get_secret_value().encode(),
                    f"demo-producer-{secrets.token_hex(3)}",
                    Role.producer,
                    "demo",
                )
                started = time.monotonic()
                accepted = submit_all(api_url, samples, producer_key)
                print(f"demo: {len(accepted)} tickets accepted through {api_url}")
                finished = wait_until_final(store, list(accepted), started + timeout_s)
                elapsed = time.monotonic() - started
                outcomes = [
                    LabelledOutcome(store.get(tid), s.category, is_holdout(s.external_id))
                    for tid, s in accepted.items()
                ]
        print()
        print(render_summary(outcomes, elapsed))
        deliveries = stub.snapshot()
        print(f"departments received {len(deliveries)} deliveries, {stub.duplicates()} duplicates")
    unfinished = len(accepted) - finished
    if unfinished:
        print(f"demo: {unfinished} tickets did not reach a final state", file=sys.stderr)
        return 1
    return 0


def wait_until_final(store: TicketStore, ticket_ids: list[str], deadline: float) -> int:
    """Poll the store until every ticket is final or the deadline passes; shows progress."""
    on_terminal = sys.stdout.isatty()
    last_print = 0.0
    while True:
        counts = store.count_by_status(ticket_ids)
        final = sum(n for status, n in counts.items() if status in FINAL_STATUSES)
        finished = final == len(ticket_ids) or time.monotonic() > deadline
        # One line redrawn on a terminal; a line every 2 s in a log.
        if on_terminal or finished or time.monotonic() - last_print >= 2:
            line = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
            text = f"  {final}/{len(ticket_ids)} final ({line})"
            print(
                f"\r{text:<100}" if on_terminal else text,
                end="" if on_terminal else "\n",
                flush=True,
            )
            last_print = time.monotonic()
        if finished:
            if on_terminal:
                print()
            return final
        time.sleep(0.2)


def _redact(url: str) -> str:
    """A URL without its credentials, for printing."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"
