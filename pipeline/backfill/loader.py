"""Storing backfill rows in batches: validate, bulk insert (duplicates skipped), then publish."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update

from pipeline.backfill.jobs import BackfillJob
from pipeline.backfill.sources import SourceRow
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.store.intake import new_ticket_row, store_new_tickets
from pipeline.store.schema import BackfillJobRow, utcnow
from pipeline.store.tickets import TicketStore


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


def ticket_row(
    fields: dict[str, Any],
    *,
    source: str,
    job_id: str | None,
    deliver: bool,
    queue: Queue,
    max_metadata_bytes: int,
) -> dict[str, Any]:
    """Validate one record and turn it into a ticket row; raises ValueError with the reason."""
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
    return new_ticket_row(
        submission,
        source=source,
        # Idempotent by external id; without one, by content, so a re-run skips it too.
        idempotency_key=submission.external_id or f"sha256:{fingerprint}",
        payload_hash=fingerprint,
        queue=queue,
        now=utcnow(),
        deliver=deliver,
        job_id=job_id,
    )


def store_batch(
    store: TicketStore,
    job: BackfillJob,
    rows: list[SourceRow],
    *,
    deliver: bool,
    max_metadata_bytes: int,
) -> BatchOutcome:
    """One transaction: insert the valid rows and their audit events, advance the job."""
    prepared: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for row in rows:
        if row.problem is not None:
            rejects.append(Reject(row.line, row.problem))
            continue
        try:
            prepared.append(
                ticket_row(
                    row.fields,
                    source=job.source,
                    job_id=job.id,
                    deliver=deliver,
                    queue=Queue.backfill,
                    max_metadata_bytes=max_metadata_bytes,
                )
            )
        except ValueError as exc:
            rejects.append(Reject(row.line, str(exc)))
    with store.transaction() as session:
        detail = {"source": job.source, "queue": Queue.backfill.value, "job": job.id}
        new_ids = store_new_tickets(session, prepared, [detail] * len(prepared)).new_ids
        last_row = rows[-1].row if rows else job.last_line
        session.execute(
            update(BackfillJobRow)
            .where(BackfillJobRow.id == job.id)
            .values(
                rows_read=BackfillJobRow.rows_read + len(rows),
                stored=BackfillJobRow.stored + len(new_ids),
                skipped=BackfillJobRow.skipped + len(prepared) - len(new_ids),
                rejected=BackfillJobRow.rejected + len(rejects),
                last_line=last_row,
                updated_at=utcnow(),
            )
        )
    ordered = [r["id"] for r in prepared if r["id"] in new_ids]
    return BatchOutcome(len(rows), ordered, len(prepared) - len(new_ids), rejects, last_row)


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
    store: TicketStore,
    job: BackfillJob,
    rows: Iterable[SourceRow],
    *,
    batch_size: int,
    deliver: bool,
    max_metadata_bytes: int,
    publish_after_commit: Callable[[list[str]], int],
    on_batch: Callable[[BatchOutcome, int], None],
) -> None:
    """Store every row in batches; after each commit, publish its new tickets."""
    for batch in batches(rows, batch_size, after_row=job.last_line):
        outcome = store_batch(
            store, job, batch, deliver=deliver, max_metadata_bytes=max_metadata_bytes
        )
        published = publish_after_commit(outcome.new_ids)
        on_batch(outcome, published)
