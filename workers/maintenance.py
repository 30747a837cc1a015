"""Store upkeep beat runs: audit_events partitions for the coming months (PostgreSQL)."""

from __future__ import annotations

import logging

from celery import Task as CeleryTask
from celery import shared_task

from pipeline.store.partitions import ensure_audit_partitions
from workers.celery_app import services_for

log = logging.getLogger("triage.maintenance")


@shared_task(bind=True, name="triage.maintain_partitions", ignore_result=True, acks_late=False)
def maintain_partitions(self: CeleryTask) -> str:
    """Create the audit_events partitions of the coming months that do not exist yet."""
    created = ensure_audit_partitions(services_for(self.app).store.engine)
    return f"created {len(created)} partitions" + (f": {', '.join(created)}" if created else "")
