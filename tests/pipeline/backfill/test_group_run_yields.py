"""Where a backfill group yields to live work: before each chunk, route and audit (every store)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pipeline.backfill.group_run import GroupRun, run_group
from pipeline.backfill.pace import YIELD_STEP_S, BackfillPace
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.routing import load_routing
from pipeline.wiring.services import live_work_in
from tests.conftest import EXAMPLE_ROUTING, keyword_decision, submit
from tests.pipeline.backfill.test_group_run import grouped_for, history
from tests.support.tickets import AnyStore, force_status

ROUTING = load_routing(EXAMPLE_ROUTING)
A_MINUTE_AGO = datetime.now(UTC) - timedelta(minutes=1)  # every ticket here is newer


def run_in_chunks(
    store: AnyStore, ids: list[str], chunk_size: int, between_steps: Callable[[], object]
) -> GroupRun:
    """The group through its three stages, classified `chunk_size` at a time."""
    return run_group(
        store,
        grouped_for(store),
        ScriptedClassifier(keyword_decision),
        ROUTING,
        ids,
        confidence_threshold=0.5,
        chunk_size=chunk_size,
        between_steps=between_steps,
    )


def statuses(store: AnyStore, ids: list[str]) -> dict[str, int]:
    return dict(Counter(str(store.get(i).status) for i in ids))


def test_the_group_pauses_between_its_steps_with_its_work_committed(every_store: AnyStore) -> None:
    ids = history(every_store, 7)
    seen: list[dict[str, int]] = []
    outcome = run_in_chunks(every_store, ids, 3, lambda: seen.append(statuses(every_store, ids)))
    assert outcome.closed == 7
    # Chunks of 3, 3, 1: a pause before the second and third, then before route and audit;
    # each pause comes after the step before it committed (nothing is held while it waits).
    assert seen == [
        {"classified": 3, "received": 4},
        {"classified": 6, "received": 1},
        {"classified": 7},
        {"routed": 7},
    ]


def test_a_live_ticket_under_way_holds_the_group_until_it_is_final(
    every_store: AnyStore,
) -> None:
    ids = history(every_store, 4)
    live_ticket = submit(every_store, external_id="LIVE-1")
    naps: list[float] = []
    progress: list[dict[str, int]] = []

    def nap(seconds: float) -> None:
        # The live ticket finishes while history waits its second look.
        naps.append(seconds)
        progress.append(statuses(every_store, ids))
        if len(naps) == 2:
            force_status(every_store, live_ticket, TicketStatus.done)

    pace = BackfillPace(
        0,
        live_work=lambda: live_work_in(every_store).in_flight(since=A_MINUTE_AGO),
        max_yield_s=5,
        sleep=nap,
    )
    outcome = run_in_chunks(every_store, ids, 2, pace.yield_to_live)
    assert naps == [YIELD_STEP_S, YIELD_STEP_S]  # held at the first pause only
    assert progress == [{"classified": 2, "received": 2}] * 2  # the second chunk waited
    assert outcome.closed == 4
