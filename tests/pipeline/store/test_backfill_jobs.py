"""The backfill repository: SQL and in-memory count a job's batches the same way."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.backfill.jobs import (
    add_enqueued,
    create_job,
    get_job,
    job_ticket_statuses,
    set_job_status,
)
from pipeline.backfill.loader import new_ticket
from pipeline.domain.lifecycle import Queue
from pipeline.domain.operator import BatchProgress, JobNotFound, JobStatus, NewTicket
from pipeline.store.memory_operator import MemoryBackfill
from pipeline.store.tickets import TicketStore


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, store: TicketStore) -> Any:
    return store if request.param == "sql" else SimpleNamespace(backfill=MemoryBackfill())


def ticket(n: int, job_id: str | None) -> NewTicket:
    fields = {
        "subject": f"s{n}",
        "description": f"d{n}",
        "customer_id": "c",
        "external_id": f"x{n}",
    }
    return new_ticket(
        fields,
        source="backfill",
        job_id=job_id,
        deliver=False,
        queue=Queue.backfill,
        max_metadata_bytes=1000,
    )


def test_newest_job_and_unknown_job(store: Any) -> None:
    with pytest.raises(JobNotFound, match="no backfill job yet"):
        get_job(store)
    first = create_job(store, "backfill", "/a.csv", {"batch_size": 2})
    assert get_job(store) == first
    with pytest.raises(JobNotFound):
        get_job(store, "nope")


def test_batches_advance_the_job_counters_and_repeats_are_skipped(store: Any) -> None:
    job = create_job(store, "backfill", "/a.csv", {})
    repo = store.backfill
    detail = {"source": "backfill", "queue": "backfill", "job": job.id}
    first = repo.store_tickets(
        [ticket(1, job.id), ticket(2, job.id)], detail, BatchProgress(job.id, 3, 1, 3)
    )
    assert first.created == [True, True] and len(first.new_ids()) == 2
    again = repo.store_tickets(
        [ticket(2, job.id), ticket(3, job.id)], detail, BatchProgress(job.id, 2, 0, 5)
    )
    assert again.created == [False, True]
    assert again.ticket_ids[0] == first.ticket_ids[1]  # a repeat answers with the stored id
    add_enqueued(store, job.id, 3)
    set_job_status(store, job.id, JobStatus.stored)
    now = get_job(store, job.id)
    counts = (now.rows_read, now.stored, now.skipped, now.rejected, now.enqueued, now.last_line)
    assert counts == (5, 3, 1, 1, 3, 5)
    assert now.status == "stored"
    assert job_ticket_statuses(store, job.id) == {"received": 3}


def test_batch_without_a_job_stores_and_reports_each_item(store: Any) -> None:
    repo = store.backfill
    detail = {"source": "backfill", "queue": "backfill", "batch": True}
    stored = repo.store_tickets([ticket(1, None), ticket(1, None)], detail)
    assert stored.created == [True, False]
    assert stored.ticket_ids[0] == stored.ticket_ids[1]


def test_the_job_holding_tickets_is_not_hidden_by_a_rerun_that_stored_none(store: Any) -> None:
    from pipeline.backfill.jobs import job_holding_tickets

    assert job_holding_tickets(store) is None
    repo = store.backfill
    first = create_job(store, "backfill", "/a.csv", {})
    detail = {"source": "backfill", "queue": "backfill", "job": first.id}
    repo.store_tickets([ticket(1, first.id)], detail, BatchProgress(first.id, 1, 0, 1))
    rerun = create_job(store, "backfill", "/a.csv", {})
    repo.store_tickets([ticket(1, rerun.id)], detail, BatchProgress(rerun.id, 1, 0, 1))
    assert get_job(store).id == rerun.id  # the newest job...
    holder = job_holding_tickets(store)  # ...is not the one with the ticket
    assert holder is not None and (holder.id, holder.stored) == (first.id, 1)
