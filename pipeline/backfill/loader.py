"""Storing backfill rows in batches: validate, bulk insert (duplicates skipped), then publish."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipeline.backfill.sources import SourceRow
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.domain.operator import BackfillJob, BatchProgress, NewTicket
from pipeline.ports import OperatorStores


@dataclass(frozen=True)
class Reject:
    """A row that could not be stored, and why (written to the reject file)."""

    line: int
    reason: str


@dataclass(frozen=True)
class BatchOutcome:
    """What one committed batch did."""

    rows: int
    new_ids: list[str]
    skipped: int
    rejects: list[Reject]
    last_row: int


def new_ticket(
    fields: dict[str, Any],
    *,
    source: str,
    job_id: str | None,
    deliver: bool,
    queue: Queue,
    max_metadata_bytes: int,
    connector: str | None = None,
) -> NewTicket:
    """Validate one record and turn it into a ticket to store; raises ValueError with the reason."""
    try:
        submission = TicketSubmission.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ValueError(problems) from None
    metadata = submission.metadata()
    if len(json.dumps(metadata, separators=(",", ":")).encode()) > max_metadata_bytes:
        raise ValueError(f"extra columns exceed {max_metadata_bytes} bytes")
    fingerprint = payload_fingerprint(fields)
    return NewTicket(
        submission,
        source=source,
        # Idempotent by external id; without one, by content, so a re-run skips it too.
        idempotency_key=submission.external_id or f"sha256:{fingerprint}",
        payload_hash=fingerprint,
        queue=queue,
        deliver=deliver,
        job_id=job_id,
        connector=connector,
    )


def store_batch(
    store: OperatorStores,
    job: BackfillJob,
    rows: list[SourceRow],
    *,
    deliver: bool,
    max_metadata_bytes: int,
) -> BatchOutcome:
    """One transaction: insert the valid rows and their audit events, advance the job."""
    prepared: list[NewTicket] = []
    rejects: list[Reject] = []
    for row in rows:
        if row.problem is not None:
            rejects.append(Reject(row.line, row.problem))
            continue
        try:
            prepared.append(
                new_ticket(
                    row.fields,
                    source=job.source,
                    job_id=job.id,
                    connector=job.options.get("format") or None,
                    deliver=deliver,
                    queue=Queue.backfill,
                    max_metadata_bytes=max_metadata_bytes,
                )
            )
        except ValueError as exc:
            rejects.append(Reject(row.line, str(exc)))
    last_row = rows[-1].row if rows else job.last_line
    detail = {"source": job.source, "queue": Queue.backfill.value, "job": job.id}
    progress = BatchProgress(job.id, len(rows), len(rejects), last_row)
    new_ids = store.backfill.store_tickets(prepared, detail, progress).new_ids()
    return BatchOutcome(len(rows), new_ids, len(prepared) - len(new_ids), rejects, last_row)


def batches(
    rows: Iterable[SourceRow], size: int, *, after_row: int = 0
) -> Iterator[list[SourceRow]]:
    """Rows in batches of `size`, skipping those a previous run already committed."""
    batch: list[SourceRow] = []
    for row in rows:
        if row.row <= after_row:
            continue
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_rows(
    store: OperatorStores,
    job: BackfillJob,
    rows: Iterable[SourceRow],
    *,
    batch_size: int,
    deliver: bool,
    max_metadata_bytes: int,
    publish_after_commit: Callable[[list[str]], int],
    on_batch: Callable[[BatchOutcome, int], None],
    before_batch: Callable[[], object] | None = None,
) -> None:
    """Store every row in batches; after each commit, publish its new tickets.

    `before_batch` runs before each batch after the first: where the pace yields to live work.
    """
    for number, batch in enumerate(batches(rows, batch_size, after_row=job.last_line)):
        if number and before_batch is not None:
            before_batch()
        outcome = store_batch(
            store, job, batch, deliver=deliver, max_metadata_bytes=max_metadata_bytes
        )
        published = publish_after_commit(outcome.new_ids)
        on_batch(outcome, published)
