"""Records the operator-side stores hand back: API keys, backfill jobs, report figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission

# What erased or purged text reads as; the ticket's skeleton stays.
ERASED = "[erased]"

# --- API keys ------------------------------------------------------------------------------


class Role(StrEnum):
    """What a key may do: producers ingest, readers read, reviewers also correct and replay,
    admins do everything (erase, manage keys)."""

    producer = "producer"
    reader = "reader"
    reviewer = "reviewer"
    admin = "admin"


class ApiKeyError(TriageError):
    """A key could not be created or revoked."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key's public facts (never the key itself)."""

    name: str
    prefix: str
    role: Role
    source: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class StoredKey:
    """A key as the store keeps it: its public facts and the keyed hash of its secret."""

    key: ApiKey
    key_hash: str


# --- backfill jobs -------------------------------------------------------------------------


class JobStatus(StrEnum):
    """Where a backfill run stands."""

    running = "running"  # reading and storing rows
    stored = "stored"  # every row read, stored (or skipped/rejected) and enqueued
    interrupted = "interrupted"  # stopped before the end; resume with --resume


class JobNotFound(TriageError):
    """No backfill job has this id."""


class BackfillJob(BaseModel):
    """A snapshot of one job."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    source: str
    path: str
    options: dict[str, Any]
    status: str
    rows_read: int
    stored: int
    skipped: int
    rejected: int
    enqueued: int
    last_line: int


@dataclass(frozen=True)
class BatchProgress:
    """How far one committed batch moves its job: rows read and rejected, the last line."""

    job_id: str
    rows_read: int
    rejected: int
    last_line: int


@dataclass(frozen=True)
class NewTicket:
    """A validated ticket to store, and the key its repeats are recognised by."""

    submission: TicketSubmission
    source: str
    idempotency_key: str
    payload_hash: str
    queue: Queue
    deliver: bool
    job_id: str | None = None
    connector: str | None = None  # the helpdesk export it came from (`backfill --format`)


@dataclass(frozen=True)
class StoredTickets:
    """What storing a batch of new tickets did, item by item in input order."""

    ticket_ids: list[str | None]  # the new ticket's id, or the one stored before under its key
    created: list[bool]
    # True where the key was stored before with a different body (a conflict, not a repeat).
    conflicts: list[bool] = field(default_factory=list)

    def new_ids(self) -> list[str]:
        """The ids of the tickets this batch created, in input order."""
        return [i for i, new in zip(self.ticket_ids, self.created, strict=True) if new and i]


# --- reports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusFigures:
    """The raw counts behind the status screen."""

    statuses: dict[str, int]  # every ticket, by its current status
    received_since: int  # tickets received since the window's start
    finished_since: dict[str, int]  # tickets that reached a final status since then, by status
    top_failures: list[tuple[str | None, int]]
    recent_events: list[tuple[str, dict[str, Any]]]  # (event, detail), newest first


@dataclass(frozen=True)
class RetryGroup:
    """Tickets retrying their current stage with the same last error."""

    error: str | None
    tickets: int
    next_attempt_at: datetime | None  # the soonest; None: a Celery countdown, not the store
    retrying_since: datetime | None  # the oldest first failure of the group's current stage
    example_id: str


@dataclass(frozen=True)
class RetryingFigures:
    """Every ticket not final whose current stage failed at least once, grouped by error."""

    total: int
    groups: list[RetryGroup]  # the largest groups first


@dataclass(frozen=True)
class KnownLabel:
    """A stored ticket whose category is known (a correction, or the backfill's own label)."""

    subject: str
    description: str
    category: str
    urgency: str | None
