"""Routing rules: every listed field must hold, and the trail says which rule matched."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.routing_rules import RoutingRule, RuleCondition, first_matching_rule, matches

ANGRY_DE = Classification(
    category="billing",
    urgency=Urgency.high,
    language="de",
    confidence=0.9,
    sentiment=Sentiment.very_negative,
    classifier="s",
    model="m",
)


def cond(**fields: object) -> RuleCondition:
    return RuleCondition.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "source", "trusted", "expected"),
    [
        ({"category": ["billing"]}, None, True, True),
        ({"category": ["billing"]}, None, False, False),  # an unsure category never escalates
        ({"category": ["refund"]}, None, True, False),
        ({"urgency": ["high", "critical"]}, None, False, True),
        ({"urgency": ["low"]}, None, True, False),
        ({"sentiment": ["very_negative"]}, None, True, True),
        ({"sentiment": ["positive"]}, None, True, False),
        ({"language": ["de"]}, None, True, True),
        ({"language": ["en"]}, None, True, False),
        ({"source": ["zendesk-dach"]}, "zendesk-dach", True, True),
        ({"source": ["zendesk-dach"]}, "api", True, False),
        ({"source": ["zendesk-dach"]}, None, True, False),
        ({"urgency": ["high"], "language": ["en"]}, None, True, False),  # every field must hold
        ({"urgency": ["high"], "language": ["de"], "source": ["api"]}, "api", True, True),
    ],
)
def test_a_rule_matches_only_when_every_listed_field_holds(
    fields: dict[str, object], source: str | None, trusted: bool, expected: bool
) -> None:
    assert matches(cond(**fields), ANGRY_DE, source, category_trusted=trusted) is expected


def test_the_first_matching_rule_wins_and_its_position_is_known() -> None:
    rules = [
        RoutingRule(when=cond(language=["fr"]), department="fr"),
        RoutingRule(name="angry", when=cond(sentiment=["very_negative"]), department="esc"),
        RoutingRule(when=cond(urgency=["high"]), department="oncall"),
    ]
    index, rule = first_matching_rule(rules, ANGRY_DE, None, category_trusted=True) or (None, None)
    assert (index, rule) == (1, rules[1])
    assert first_matching_rule(rules[:1], ANGRY_DE, None, category_trusted=True) is None
    assert rules[0].label(0) == "rule 1" and rules[1].label(1) == "angry"


def test_a_condition_reads_as_a_person_would_write_it() -> None:
    condition = cond(urgency=["high", "critical"], sentiment=["very_negative"], source=["a"])
    assert condition.described() == "urgency high|critical, sentiment very_negative, source a"
    assert cond(category=["billing"], language=["de", "at"]).described() == (
        "category billing, language de|at"
    )


def test_an_empty_condition_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        cond()
