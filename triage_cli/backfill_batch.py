"""`triage backfill --llm-batch`: classify a stored job through the Gemini Batch API."""

from __future__ import annotations

import sys

import click

from pipeline.backfill.jobs import add_enqueued
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore


def classify_with_batch_api(
    store: TicketStore, settings: Settings, job_id: str, poll_interval: float
) -> None:
    """Submit the job's tickets to the Gemini Batch API, store the answers, enqueue the rest."""
    from pipeline.backfill.llm_batch import run_llm_batch
    from pipeline.classifiers.gemini.classifier import GeminiClassifier
    from pipeline.domain.lifecycle import Queue
    from pipeline.domain.routing import load_routing
    from workers.celery_app import default_app
    from workers.chains import enqueue_groups_after_commit

    if settings.gemini_key() is None:
        click.echo(
            "backfill: --llm-batch needs GEMINI_API_KEY (the Gemini Developer API)", err=True
        )
        sys.exit(2)
    gemini = GeminiClassifier(
        settings,
        load_routing(settings.routing_file).category_descriptions(),
        queue=Queue.backfill.value,
    )
    classified, left = run_llm_batch(
        store,
        gemini,
        job_id,
        group_size=settings.llm_group_size,
        poll_interval_s=poll_interval,
        timeout_s=24 * 3600.0,
        progress=lambda line: click.echo(f"  {line}", err=True),
    )
    # In groups: the grouped stages skip the classified tickets' classify and route, audit
    # them in bulk; the unanswered are classified there too.
    sent = enqueue_groups_after_commit(
        default_app(), classified + left, group_size=settings.backfill_group_size
    )
    add_enqueued(store, job_id, sent)
    click.echo(
        f"batch API classified {len(classified)} tickets; {len(left)} go the normal way", err=True
    )
