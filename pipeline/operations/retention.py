"""Data lifecycle: purge old ticket text, erase a customer's data; the audit skeleton stays."""

from __future__ import annotations

from datetime import datetime

from pipeline.ports import OperatorStores

BATCH = 500  # tickets per transaction: short write locks on a big store


def erase_customer(store: OperatorStores, customer_id: str, *, actor: str) -> int:
    """Erase the text and PII of every ticket of a customer; returns how many were erased."""
    erased = 0
    while count := store.retention.erase_customer_batch(customer_id, actor=actor, limit=BATCH):
        erased += count
    return erased


def purge_before(store: OperatorStores, before: datetime, *, actor: str) -> int:
    """Remove the text of finished tickets received before `before`; returns how many."""
    purged = 0
    while count := store.retention.purge_batch(before, actor=actor, limit=BATCH):
        purged += count
    return purged
