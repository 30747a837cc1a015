"""Routing rules on sentiment, urgency, language and source, before the category map."""

from __future__ import annotations

import pytest

from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import choose_department, parse_routing

ROUTING = """
review_department = "review"
[[rules]]
name = "angry customers"
when = { sentiment = ["very_negative"] }
department = "escalations"
[[rules]]
when = { category = ["billing"], urgency = ["critical"] }
department = "finance_oncall"
[[rules]]
when = { language = ["de"], source = ["zendesk-dach"] }
department = "dach"
[categories.billing]
description = "Invoices"
department = "finance"
[categories.shipping]
description = "Parcels"
department = "logistics"
[departments.finance]
[departments.finance_oncall]
[departments.logistics]
[departments.escalations]
endpoint = "http://127.0.0.1:9/escalations"
[departments.dach]
[departments.review]
"""


def decision(**fields: object) -> Classification:
    values: dict[str, object] = {
        "category": "shipping",
        "urgency": Urgency.normal,
        "language": "en",
        "confidence": 0.9,
        "classifier": "scripted",
        "model": "scripted-1",
    }
    values.update(fields)
    return Classification.model_validate(values)


TABLE = parse_routing(ROUTING, ".toml")


def test_a_very_negative_ticket_goes_to_escalations_whatever_its_category() -> None:
    routed = choose_department(decision(sentiment=Sentiment.very_negative), TABLE, 0.55)
    assert (routed.department, routed.rule, routed.needs_review) == (
        "escalations",
        "angry customers",
        False,
    )
    assert routed.endpoint == "http://127.0.0.1:9/escalations"
    assert "sentiment very_negative" in routed.reason


def test_every_listed_field_must_match_and_the_first_rule_wins() -> None:
    critical = decision(category="billing", urgency=Urgency.critical)
    assert choose_department(critical, TABLE, 0.55).department == "finance_oncall"
    both = decision(category="billing", urgency=Urgency.critical, sentiment="very_negative")
    assert choose_department(both, TABLE, 0.55).department == "escalations"
    only_urgent = decision(category="shipping", urgency=Urgency.critical)
    assert choose_department(only_urgent, TABLE, 0.55).department == "logistics"
    german = decision(language="de")
    assert choose_department(german, TABLE, 0.55, source="zendesk-dach").rule == "rule 3"
    assert choose_department(german, TABLE, 0.55, source="api").department == "logistics"


def test_an_unsure_category_does_not_trigger_a_category_rule() -> None:
    unsure = decision(category="billing", urgency=Urgency.critical, confidence=0.3)
    routed = choose_department(unsure, TABLE, 0.55)
    assert (routed.department, routed.needs_review, routed.rule) == ("review", True, None)
    # A rule on sentiment alone does not depend on the category's confidence.
    angry = decision(confidence=0.3, sentiment=Sentiment.very_negative)
    assert choose_department(angry, TABLE, 0.55).department == "escalations"


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ('when = { sentiment = ["livid"] }\ndepartment = "finance"', "livid"),
        ('when = { mood = ["sad"] }\ndepartment = "finance"', "mood"),
        ('when = { urgency = ["high"] }\ndepartment = "nowhere"', "nowhere"),
        ('when = { category = ["refunds"] }\ndepartment = "finance"', "refunds"),
        ('when = {}\ndepartment = "finance"', "at least one field"),
    ],
)
def test_a_bad_rule_is_a_load_error_naming_it(rule: str, named: str) -> None:
    text = ROUTING.replace(
        'review_department = "review"', f'review_department = "review"\n[[rules]]\n{rule}', 1
    )
    with pytest.raises(ConfigurationError, match=named):
        parse_routing(text, ".toml")
