"""Group commit: tickets from many request threads share one transaction and one fsync.

Every request still returns only after its own ticket is committed; what is shared is the
transaction. Under load one commit carries every ticket that arrived while the previous one
was being written, so round trips, WAL flushes and per-statement overhead are paid per batch.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from pipeline.domain.changes import Acceptance
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission
from pipeline.store.intake import StoredBatch, acceptance_of, received_ticket, store_new_tickets
from pipeline.store.tickets import TicketStore
from pipeline.telemetry.metrics import INGEST_COMMIT_BATCH

log = logging.getLogger("triage.store")


@dataclass
class _Waiting:
    row: dict[str, Any]
    detail: dict[str, Any]
    future: Future[StoredBatch] = field(default_factory=Future)


class GroupCommitIntake:
    """Accepts tickets into the store; concurrent ones are committed together (up to a bound)."""

    def __init__(
        self, store: TicketStore, *, max_batch: int = 64, idle_exit_s: float = 10.0
    ) -> None:
        self._store = store
        self._max_batch = max(1, max_batch)
        self._idle_exit_s = idle_exit_s
        self._writer_pid = -1  # the process whose writer thread is running; -1 when none is
        self._pending: deque[_Waiting] = deque()
        self._ready = threading.Condition()

    def accept(
        self,
        submission: TicketSubmission,
        *,
        source: str,
        idempotency_key: str | None,
        payload_hash: str,
        queue: Queue = Queue.live,
        connector: str | None = None,
    ) -> Acceptance:
        """Store the ticket `received` with its audit event; return once it is committed."""
        row, detail = received_ticket(
            submission,
            source=source,
            idempotency_key=idempotency_key,
            payload_hash=payload_hash,
            queue=queue,
            connector=connector,
        )
        waiting = _Waiting(row, detail)
        if self._max_batch == 1:
            self._write([waiting])
        else:
            self._hand_to_writer(waiting)
        # Outcomes are read here, not by the writer: a repeat loads the earlier ticket, and
        # that read must not hold up the next batch.
        return acceptance_of(row, waiting.future.result(), self._store.get)

    def queued(self) -> int:
        """Tickets waiting for the writer right now."""
        return len(self._pending)

    def _hand_to_writer(self, waiting: _Waiting) -> None:
        with self._ready:
            if self._writer_pid != os.getpid():
                # None yet, or it went idle, or this is a forked child (gunicorn forks after the
                # app is built, and a thread started before the fork does not exist here).
                self._writer_pid = os.getpid()
                threading.Thread(target=self._run_writer, name="group-commit", daemon=True).start()
            self._pending.append(waiting)
            self._ready.notify()

    def _run_writer(self) -> None:
        while True:
            with self._ready:
                if not self._pending:
                    self._ready.wait(self._idle_exit_s)
                if not self._pending:  # idle: exit, the next ticket starts a new writer
                    self._writer_pid = -1
                    return
                take = min(len(self._pending), self._max_batch)
                batch = [self._pending.popleft() for _ in range(take)]
            try:
                self._write(batch)
            except BaseException as error:  # never leave a request waiting on a dead writer
                log.exception("group commit writer failed")
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)

    def _write(self, batch: list[_Waiting]) -> None:
        rows = [waiting.row for waiting in batch]
        try:
            with self._store.transaction() as session:
                stored = store_new_tickets(session, rows, [waiting.detail for waiting in batch])
        except (OperationalError, DBAPIError) as error:
            if len(batch) > 1 and not _store_unreachable(error):
                # One row the database refused must not fail its neighbours: alone, each
                # succeeds or fails on its own merits.
                for waiting in batch:
                    self._write([waiting])
                return
            for waiting in batch:
                waiting.future.set_exception(error)
            return
        INGEST_COMMIT_BATCH.observe(len(batch))
        for waiting in batch:
            waiting.future.set_result(stored)


def _store_unreachable(error: DBAPIError) -> bool:
    """A lost connection or a database that is down: retrying row by row would not help."""
    return isinstance(error, OperationalError) or bool(error.connection_invalidated)
