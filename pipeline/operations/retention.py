"""Data lifecycle: purge old ticket text, erase a customer's data; the audit skeleton stays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.ports import OperatorStores

BATCH = 500  # tickets per transaction: short write locks on a big store


@dataclass(frozen=True)
class Erasure:
    """How far one erase went: tickets erased, and whether the customer has none left."""

    erased: int
    complete: bool


def erase_customer(
    store: OperatorStores, customer_id: str, *, actor: str, budget: int | None = None
) -> Erasure:
    """Erase the text and PII of a customer's tickets, at most `budget` of them (None: all).

    Ends whatever `customer_id` is: the batches walk ticket ids, never the value they write.
    `complete` is False when the budget ran out first (perhaps exactly on the last ticket);
    calling again goes on (erased tickets are skipped) until it answers complete.
    """
    customer_id = customer_id.strip()  # as ingest stores it (TicketSubmission strips it)
    if "\x00" in customer_id:  # ingest refuses NUL: no ticket can carry it
        return Erasure(0, complete=True)
    erased, after = 0, None
    while budget is None or erased < budget:
        limit = BATCH if budget is None else min(BATCH, budget - erased)
        batch = store.retention.erase_customer_batch(
            customer_id, actor=actor, limit=limit, after_id=after
        )
        erased += batch.count
        if batch.count < limit:
            return Erasure(erased, complete=True)
        after = batch.last_id
    return Erasure(erased, complete=False)


def purge_before(store: OperatorStores, before: datetime, *, actor: str) -> int:
    """Remove the text of finished tickets received before `before`; returns how many."""
    purged, after = 0, None
    while True:
        batch = store.retention.purge_batch(before, actor=actor, limit=BATCH, after_id=after)
        purged += batch.count
        if batch.count < BATCH:
            return purged
        after = batch.last_id
