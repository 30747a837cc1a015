"""The backfill loader pauses between its batches (where it yields to live work), not inside one."""

from __future__ import annotations

from pathlib import Path

from pipeline.backfill.jobs import create_job
from pipeline.backfill.loader import BatchOutcome, load_rows
from pipeline.backfill.sources import read_rows
from pipeline.store.tickets import TicketStore


def test_each_pause_comes_after_a_committed_batch(store: TicketStore, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    lines = ["external_id,subject,description,customer_id"]
    lines += [f"H-{i},Refund {i},Please refund order {i},c{i}" for i in range(7)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    job = create_job(store, "backfill", str(path), {})
    stored_at_pause: list[int] = []
    batches: list[int] = []

    def pause() -> None:
        stored_at_pause.append(sum(store.count_by_status().values()))

    def on_batch(outcome: BatchOutcome, published: int) -> None:
        batches.append(len(outcome.new_ids))

    load_rows(
        store,
        job,
        read_rows(path, {}),
        batch_size=3,
        deliver=False,
        max_metadata_bytes=4096,
        publish_after_commit=len,
        on_batch=on_batch,
        before_batch=pause,
    )
    assert batches == [3, 3, 1]
    assert stored_at_pause == [3, 6]  # before the 2nd and 3rd batch, none before the first
