"""What one stage run did: a short, PII-free outcome (it shows in Flower)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.lifecycle import Stage


@dataclass(frozen=True)
class StageOutcome:
    """A short, PII-free result of one stage run (it shows in Flower)."""

    ticket_id: str
    stage: Stage
    result: str
    did_work: bool = True

    def summary(self) -> str:
        """One line for task results and logs: ids and outcomes only."""
        return f"{self.stage.value} {self.ticket_id}: {self.result}"


def skipped(ticket_id: str, stage: Stage, status: str) -> StageOutcome:
    """The outcome of a stage that found its work already done (idempotent redelivery)."""
    return StageOutcome(ticket_id, stage, f"skipped (ticket is {status})", did_work=False)
