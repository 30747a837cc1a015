"""Training examples from the store: labels people confirmed or corrected, and known labels."""

from __future__ import annotations

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.urgency import normalise_urgency
from pipeline.ports import OperatorStores


def labelled_examples_from_store(
    store: OperatorStores, *, limit: int = 200_000
) -> list[LabelledExample]:
    """Tickets with a known category: a person's correction, or a backfill's own label.

    Erased or purged tickets have no text left and are skipped.
    """
    return [
        LabelledExample(
            subject=label.subject,
            description=label.description,
            category=label.category,
            urgency=normalise_urgency(label.urgency) if label.urgency else None,
        )
        for label in store.reports.known_labels(limit)
    ]
