"""What a stage run reports (task results, Flower): ids and outcomes, never ticket text."""

from __future__ import annotations

from pipeline.domain.lifecycle import Stage
from pipeline.stages.outcome import StageOutcome, skipped


def test_stage_outcomes_are_short_and_pii_free() -> None:
    done = StageOutcome("t1", Stage.route, "routed to finance")
    assert done.did_work and done.summary() == "route t1: routed to finance"
    again = skipped("t1", Stage.audit, "done")
    assert not again.did_work and again.summary() == "audit t1: skipped (ticket is done)"
