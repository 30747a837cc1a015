"""Training examples from the store: labels people confirmed or corrected, and known labels."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.urgency import normalise_urgency
from pipeline.operations.retention import ERASED
from pipeline.store.schema import TicketRow
from pipeline.store.tickets import TicketStore


def labelled_examples_from_store(
    store: TicketStore, *, limit: int = 200_000
) -> list[LabelledExample]:
    """Tickets with a known category: a person's correction, or a backfill's own label.

    Erased or purged tickets have no text left and are skipped.
    """
    with store.read() as session:
        rows = session.execute(
            select(
                TicketRow.subject,
                TicketRow.description,
                TicketRow.known_category,
                TicketRow.urgency,
            )
            .where(TicketRow.known_category.is_not(None), TicketRow.description != ERASED)
            .order_by(TicketRow.received_at)
            .limit(limit)
        ).all()
    return [
        LabelledExample(
            subject=subject or "",
            description=description,
            category=str(category),
            urgency=normalise_urgency(urgency) if urgency else None,
        )
        for subject, description, category, urgency in rows
    ]
