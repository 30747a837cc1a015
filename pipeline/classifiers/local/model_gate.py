"""The learning loop's gate: is a model trained on the store better than the running one?

Both are scored on the same held-back tickets of the store (the new model never trained on
them: its validation split), so a model that learned its own test set cannot win the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.domain.classification import TicketText
from pipeline.ports import Classifier


@dataclass(frozen=True)
class GateResult:
    """Accuracy of the new model (its validation) and of the running one on the same tickets."""

    tickets: int
    new_accuracy: float
    running_accuracy: float

    @property
    def worse(self) -> bool:
        """The new model classifies the held-back tickets less accurately."""
        return self.new_accuracy < self.running_accuracy

    def describe(self) -> str:
        """One line for the terminal."""
        return (
            f"on {self.tickets} held-back corrected tickets: new model {self.new_accuracy:.3f}, "
            f"running model {self.running_accuracy:.3f}"
        )


def accuracy_of(classifier: Classifier, examples: Sequence[LabelledExample]) -> float:
    """Share of the examples the classifier labels as they are labelled."""
    if not examples:
        return 0.0
    tickets = [TicketText(subject=e.subject, description=e.description) for e in examples]
    decisions = classifier.classify_many(tickets)
    hits = sum(d.category == e.category for d, e in zip(decisions, examples, strict=True))
    return hits / len(examples)


def compare_models(
    new_val_accuracy: float | None,
    running: Classifier,
    examples: Sequence[LabelledExample],
    val_rows: Sequence[int],
) -> GateResult | None:
    """The gate's figures, or None when there was no held-back split to compare on."""
    if new_val_accuracy is None or not val_rows:
        return None
    held_back = [examples[i] for i in val_rows]
    return GateResult(len(held_back), new_val_accuracy, accuracy_of(running, held_back))
