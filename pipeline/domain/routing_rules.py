"""Routing rules that look past the category: sentiment, urgency, language or source (pure).

Rules are tried in the routing file's order before the category map; the first whose every
condition holds sends the ticket to its department. A condition lists the values it accepts
(`sentiment = ["very_negative"]`); a field left out accepts anything. A rule that names a
category only counts when the category itself is trusted (its confidence reaches the review
threshold): an unsure category must not escalate by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.domain.classification import Classification, Sentiment, Urgency


class RuleCondition(BaseModel):
    """What a decision must be for a rule to match: any listed value, for every listed field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: tuple[str, ...] = ()
    urgency: tuple[Urgency, ...] = ()
    sentiment: tuple[Sentiment, ...] = ()
    language: tuple[str, ...] = ()
    source: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> RuleCondition:
        if not any((self.category, self.urgency, self.sentiment, self.language, self.source)):
            raise ValueError("a rule's `when` must name at least one field")
        return self

    def described(self) -> str:
        """The condition as a person reads it: `sentiment very_negative, urgency high|critical`."""
        parts = []
        for name in ("category", "urgency", "sentiment", "language", "source"):
            values = getattr(self, name)
            if values:
                parts.append(f"{name} {'|'.join(str(v) for v in values)}")
        return ", ".join(parts)


class RoutingRule(BaseModel):
    """Send tickets matching `when` to `department`, whatever their category's own route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", max_length=100)
    when: RuleCondition
    department: str = Field(min_length=1)

    def label(self, index: int) -> str:
        """The rule's name, or its position in the file when it has none."""
        return self.name or f"rule {index + 1}"


def matches(
    condition: RuleCondition,
    decision: Classification,
    source: str | None,
    *,
    category_trusted: bool,
) -> bool:
    """Whether one decision meets every listed field of the condition."""
    if condition.category and not (category_trusted and decision.category in condition.category):
        return False
    if condition.urgency and decision.urgency not in condition.urgency:
        return False
    if condition.sentiment and decision.sentiment not in condition.sentiment:
        return False
    if condition.language and decision.language not in condition.language:
        return False
    return not condition.source or source in condition.source


def first_matching_rule(
    rules: Sequence[RoutingRule],
    decision: Classification,
    source: str | None,
    *,
    category_trusted: bool,
) -> tuple[int, RoutingRule] | None:
    """The first rule (and its index) the decision matches, or None."""
    for index, rule in enumerate(rules):
        if matches(rule.when, decision, source, category_trusted=category_trusted):
            return index, rule
    return None
