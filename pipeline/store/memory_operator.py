"""Operator-side stores in memory (API keys, backfill jobs): for unit tests and the demo.

Each keeps the rules of its SQL twin in pipeline/store/ (unique names, repeats skipped by
source and idempotency key, job counters advanced per batch).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.operator import (
    ApiKey,
    ApiKeyError,
    BackfillJob,
    BatchProgress,
    JobStatus,
    NewTicket,
    StoredKey,
    StoredTickets,
)
from pipeline.domain.review import ReceivedTicket, TicketSearch, TrailEvent
from pipeline.ports import TicketRepository


class MemoryApiKeys:
    """The ApiKeyRepository in a dict; names and prefixes are unique, as in SQL."""

    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}  # by name, in insertion (creation) order
        self._lock = threading.Lock()

    def add(self, key: StoredKey) -> None:
        """Store a new key; raise ApiKeyError if its name is taken."""
        with self._lock:
            name, prefix = key.key.name, key.key.prefix
            if name in self._keys or any(k.key.prefix == prefix for k in self._keys.values()):
                raise ApiKeyError(f"a key named {name!r} already exists")
            self._keys[name] = key

    def all(self) -> list[ApiKey]:
        """Every key's public facts, oldest first."""
        with self._lock:
            return [stored.key for stored in self._keys.values()]

    def revoke(self, name: str, at: datetime) -> None:
        """Mark a key revoked (a revoked key keeps its first date); ApiKeyError if unknown."""
        with self._lock:
            stored = self._keys.get(name)
            if stored is None:
                raise ApiKeyError(f"no key named {name!r}")
            if stored.key.revoked_at is None:
                self._keys[name] = replace(stored, key=replace(stored.key, revoked_at=at))

    def by_prefix(self, prefix: str) -> StoredKey | None:
        """The key with this lookup prefix, if any."""
        with self._lock:
            return next((k for k in self._keys.values() if k.key.prefix == prefix), None)


@dataclass
class StoredTicket:
    """What the memory repository keeps of a ticket it stored."""

    id: str
    ticket: NewTicket
    status: str
    detail: dict[str, Any]


class MemoryBackfill:
    """The BackfillRepository in dicts: jobs by id, tickets by (source, idempotency key)."""

    def __init__(self) -> None:
        self.jobs: dict[str, BackfillJob] = {}  # insertion order is creation order
        self.tickets: dict[tuple[str, str], StoredTicket] = {}
        self._lock = threading.Lock()

    def add_job(self, job: BackfillJob) -> None:
        """Store a new job row."""
        with self._lock:
            self.jobs[job.id] = job

    def job(self, job_id: str | None) -> BackfillJob | None:
        """A job by id, or the newest one when `job_id` is None."""
        with self._lock:
            if job_id:
                return self.jobs.get(job_id)
            return next(reversed(self.jobs.values()), None)

    def newest_with_tickets(self) -> BackfillJob | None:
        """The newest job that stored tickets (a re-run that only skipped holds none)."""
        with self._lock:
            return next((j for j in reversed(self.jobs.values()) if j.stored > 0), None)

    def set_status(self, job_id: str, status: JobStatus) -> None:
        """Record where the job stands."""
        self._update(job_id, status=status.value)

    def add_enqueued(self, job_id: str, count: int) -> None:
        """Count tickets published to the backfill queue."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                self.jobs[job_id] = job.model_copy(update={"enqueued": job.enqueued + count})

    def ticket_statuses(self, job_id: str) -> dict[str, int]:
        """How many of the job's tickets are in each status."""
        with self._lock:
            return dict(
                Counter(t.status for t in self.tickets.values() if t.ticket.job_id == job_id)
            )

    def store_tickets(
        self,
        tickets: Sequence[NewTicket],
        detail: dict[str, Any],
        progress: BatchProgress | None = None,
    ) -> StoredTickets:
        """Store the new tickets, answer repeats with the stored id, advance the job."""
        ids: list[str | None] = []
        created: list[bool] = []
        conflicts: list[bool] = []
        with self._lock:
            for ticket in tickets:
                key = (ticket.source, ticket.idempotency_key)
                earlier = self.tickets.get(key)
                if earlier is None:
                    stored = StoredTicket(
                        str(uuid.uuid4()), ticket, TicketStatus.received.value, dict(detail)
                    )
                    self.tickets[key] = stored
                ids.append((earlier or stored).id)
                created.append(earlier is None)
                conflicts.append(
                    earlier is not None and earlier.ticket.payload_hash != ticket.payload_hash
                )
            if progress is not None and progress.job_id in self.jobs:
                job = self.jobs[progress.job_id]
                new = sum(created)
                self.jobs[job.id] = job.model_copy(
                    update={
                        "rows_read": job.rows_read + progress.rows_read,
                        "stored": job.stored + new,
                        "skipped": job.skipped + len(tickets) - new,
                        "rejected": job.rejected + progress.rejected,
                        "last_line": progress.last_line,
                    }
                )
        return StoredTickets(ids, created, conflicts)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                self.jobs[job_id] = job.model_copy(update=changes)


class MemoryReviewQueries:
    """The review console's reads (ReportQueries.search_tickets & co.) over any repository."""

    def __init__(self, tickets: TicketRepository) -> None:
        self._tickets = tickets

    def search_tickets(
        self,
        search: TicketSearch,
        *,
        after_id: str | None = None,
        limit: int = 50,
        oldest_first: bool = False,
    ) -> list[TicketRecord]:
        """Tickets matching `search` by (received_at, id), after the cursor ticket `after_id`."""
        found = sorted(
            (t for t in self._all() if _matches(t, search)),
            key=lambda t: (t.received_at, t.id),
            reverse=not oldest_first,
        )
        if after_id is not None:
            ids = [t.id for t in found]
            found = found[ids.index(after_id) + 1 :] if after_id in ids else found
        return found[:limit]

    def trail_events(
        self, events: Sequence[str], *, since: datetime, limit: int
    ) -> list[TrailEvent]:
        """Audit events of these kinds since `since`, newest first, at most `limit`."""
        entries = [
            e
            for t in self._all()
            for e in self._tickets.audit_trail(t.id)
            if e.event in events and e.created_at >= since
        ]
        entries.sort(key=lambda e: e.id, reverse=True)
        return [TrailEvent(e.ticket_id, e.event, e.detail, e.created_at) for e in entries[:limit]]

    def received_tickets(self, *, since: datetime, limit: int) -> list[ReceivedTicket]:
        """Arrival time and current category of tickets received since `since`."""
        recent = sorted(
            (t for t in self._all() if t.received_at >= since),
            key=lambda t: t.received_at,
            reverse=True,
        )
        return [ReceivedTicket(t.received_at, t.category) for t in recent[:limit]]

    def _all(self) -> list[TicketRecord]:
        return self._tickets.list_tickets(limit=10**9)


def _matches(ticket: TicketRecord, search: TicketSearch) -> bool:
    exact = {
        "id": search.ticket_id,
        "external_id": search.external_id,
        "customer_id": search.customer_id,
        "status": search.status,
        "category": search.category,
        "source": search.source,
        "language": search.language,
        "classifier": search.classifier,
    }
    if any(v is not None and getattr(ticket, k) != v for k, v in exact.items()):
        return False
    if search.received_from is not None and ticket.received_at < search.received_from:
        return False
    if search.received_to is not None and ticket.received_at >= search.received_to:
        return False
    if search.text:
        needle = search.text.casefold()
        return needle in ticket.subject.casefold() or needle in ticket.description.casefold()
    return True
