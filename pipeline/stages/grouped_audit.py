"""The grouped audit stage (backfills): a group's routed tickets closed in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.changes import Closed
from pipeline.ports import GroupedTransitions


def close_group(
    grouped: GroupedTransitions, ticket_ids: Sequence[str], *, attempt: int = 1
) -> list[Closed]:
    """Close every `routed` ticket of the group (done or needs_review), each with its event.

    A redelivered group finds its closed tickets no longer `routed` and leaves them alone.
    """
    # The close is guarded (only `routed` tickets move): no read first.
    return grouped.close_group(list(ticket_ids), attempt=attempt) if ticket_ids else []
