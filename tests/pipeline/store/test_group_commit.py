"""Group commit: concurrent tickets share a transaction, yet each keeps its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from pipeline.domain.changes import Acceptance, IdempotencyConflict
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.store import group_commit
from pipeline.store.group_commit import GroupCommitIntake
from pipeline.store.schema import AuditEventRow
from pipeline.store.tickets import TicketStore
from tests.support.waiting import wait_for


def body(i: int, **extra: object) -> dict[str, object]:
    return {"subject": f"Refund {i}", "description": f"Order {i} was charged twice", **extra} | {
        "customer_id": f"c{i}"
    }


class GatedStore:
    """Holds the writer's first transaction open until the test has queued what it wants."""

    def __init__(self, store: TicketStore) -> None:
        self.store = store
        self.gate = threading.Event()
        self.entered = threading.Event()
        self._transaction = store.transaction

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(timeout=30), "the test never opened the gate"
        with self._transaction() as session:
            yield session


def accept_in_thread(
    pool: ThreadPoolExecutor,
    intake: GroupCommitIntake,
    fields: dict[str, Any] | TicketSubmission,
    key: str | None,
) -> Future[Acceptance]:
    if isinstance(fields, TicketSubmission):
        submission, fingerprint = fields, payload_fingerprint(fields.model_dump(mode="json"))
    else:
        submission, fingerprint = (
            TicketSubmission.model_validate(fields),
            payload_fingerprint(fields),
        )
    return pool.submit(
        intake.accept, submission, source="api", idempotency_key=key, payload_hash=fingerprint
    )


def run_gated(
    store: TicketStore, requests: list[tuple[dict[str, Any] | TicketSubmission, str | None]]
) -> tuple[list[Future[Acceptance]], list[int]]:
    """The first request's commit is held until all the others wait: they form one batch."""
    gated = GatedStore(store)
    intake = GroupCommitIntake(store, max_batch=64)
    batch_sizes: list[int] = []
    real_store_new = group_commit.store_new_tickets

    def counting_store_new(session: Session, rows: list[Any], details: list[Any]) -> Any:
        batch_sizes.append(len(rows))
        return real_store_new(session, rows, details)

    with (
        mock.patch.object(store, "transaction", gated.transaction),
        mock.patch("pipeline.store.group_commit.store_new_tickets", counting_store_new),
        ThreadPoolExecutor(len(requests)) as pool,
    ):
        first = accept_in_thread(pool, intake, *requests[0])
        wait_for(gated.entered.is_set, timeout=10, what="the writer's first transaction")
        rest = []
        for fields, key in requests[1:]:
            # One at a time: the queue's order is the order a batch resolves repeats in.
            rest.append(accept_in_thread(pool, intake, fields, key))
            queued = len(rest)
            wait_for(lambda: intake.queued() == queued, timeout=10, what="it to queue")  # noqa: B023
        gated.gate.set()
        futures = [first, *rest]
        for future in futures:
            future.exception(timeout=30)
    return futures, batch_sizes


def received_events(store: TicketStore) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEventRow)) or 0)


def test_concurrent_tickets_share_one_commit_and_each_is_stored(any_store: TicketStore) -> None:
    futures, batches = run_gated(any_store, [(body(i), f"k{i}") for i in range(12)])

    ids = {future.result().ticket.id for future in futures}
    assert len(ids) == 12
    assert batches == [1, 11]  # the held first ticket, then everyone who came meanwhile
    assert any_store.count_by_status() == {"received": 12}
    assert received_events(any_store) == 12
    assert all(future.result().created for future in futures)


def test_repeats_inside_one_batch_get_the_first_ticket_or_a_conflict(
    any_store: TicketStore,
) -> None:
    futures, batches = run_gated(
        any_store,
        [(body(0), "first"), (body(1), "same"), (body(1), "same"), (body(2), "same")],
    )

    assert batches == [1, 3]
    new, repeat, conflict = futures[1].result(), futures[2].result(), futures[3].exception()
    assert new.created and not repeat.created
    assert repeat.ticket.id == new.ticket.id
    assert isinstance(conflict, IdempotencyConflict)
    assert conflict.ticket_id == new.ticket.id
    assert any_store.count_by_status() == {"received": 2}
    assert received_events(any_store) == 2


def test_a_row_the_database_refuses_does_not_fail_its_batch(postgres_store: TicketStore) -> None:
    # PostgreSQL text cannot hold NUL; validation refuses it, so build the submission by hand.
    poisoned = TicketSubmission.model_construct(**{**body(1), "description": "nul \x00 byte"})
    futures, batches = run_gated(
        postgres_store, [(body(0), "a"), (body(2), "b"), (poisoned, "c"), (body(3), "d")]
    )

    assert batches == [1, 3, 1, 1, 1]  # the batch failed, so each of its rows went alone
    assert [f.exception() is None for f in futures] == [True, True, False, True]
    assert isinstance(futures[2].exception(), DBAPIError)
    assert postgres_store.count_by_status() == {"received": 3}
    assert received_events(postgres_store) == 3


def test_store_down_fails_every_waiting_request(store: TicketStore) -> None:
    intake = GroupCommitIntake(store, max_batch=64)
    down = OperationalError("BEGIN", {}, Exception("connection refused"))
    with mock.patch.object(store, "transaction", side_effect=down), ThreadPoolExecutor(4) as pool:
        futures = [accept_in_thread(pool, intake, body(i), f"k{i}") for i in range(4)]
        errors = [future.exception(timeout=30) for future in futures]
    assert all(isinstance(error, OperationalError) for error in errors)
    assert store.count_by_status() == {}


def test_batch_of_one_commits_in_the_calling_thread(store: TicketStore) -> None:
    intake = GroupCommitIntake(store, max_batch=1)
    fields = body(7)
    committers: list[threading.Thread] = []
    real_transaction = store.transaction

    @contextmanager
    def recording_transaction() -> Iterator[Session]:
        committers.append(threading.current_thread())
        with real_transaction() as session:
            yield session

    with mock.patch.object(store, "transaction", recording_transaction):
        acceptance = intake.accept(
            TicketSubmission.model_validate(fields),
            source="api",
            idempotency_key=None,
            payload_hash=payload_fingerprint(fields),
        )
    assert acceptance.created
    assert store.get(acceptance.ticket.id).description == "Order 7 was charged twice"
    assert committers == [threading.current_thread()]


def test_an_idle_writer_exits_and_the_next_ticket_starts_another(store: TicketStore) -> None:
    intake = GroupCommitIntake(store, max_batch=8, idle_exit_s=0.05)

    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "group-commit" and t.is_alive()]

    before = set(writers())
    for i in range(2):
        fields = body(i)
        intake.accept(
            TicketSubmission.model_validate(fields),
            source="api",
            idempotency_key=None,
            payload_hash=payload_fingerprint(fields),
        )
        wait_for(lambda: set(writers()) <= before, timeout=10, what="the idle writer to exit")
    assert store.count_by_status() == {"received": 2}


@pytest.fixture
def postgres_store(any_store: TicketStore) -> TicketStore:
    if any_store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NUL in text; the refusal is PostgreSQL's")
    return any_store
