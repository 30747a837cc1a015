"""The routing file's contract: what it refuses, and where each decision sends a ticket.

An operator's typo (an unknown key, an empty description or department) must stop the
service at start, never route silently; the review threshold is inclusive (a confidence equal
to it is trusted), and the review department is the one the file names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import (
    choose_department,
    load_routing,
    parse_routing,
    send_to_review,
)
from tests.conftest import decision

BASE = """
review_department = "people"
[categories.billing]
description = "Invoices"
department = "finance"
[categories.shipping]
description = "Parcels"
department = "logistics"
[departments.finance]
endpoint = "http://127.0.0.1:9/finance"
[departments.logistics]
[departments.people]
endpoint = "http://127.0.0.1:9/people"
"""


def table(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_routing(BASE + extra, ".toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "colour = 'blue'\n", "colour"),  # an unknown top-level key
        (BASE.replace('description = "Parcels"', 'description = "Parcels"\nteam = "x"'), "team"),
        (BASE + "[departments.finance_x]\nurl = 'http://127.0.0.1:9/x'\n", "url"),
        (BASE.replace('description = "Invoices"', 'description = ""'), "description"),
        (BASE.replace('department = "finance"', 'department = ""'), "department"),
        (BASE.replace('review_department = "people"', 'review_department = "humans"'), "humans"),
        ("review_department = 'r'\ncategories = {}\n[departments.r]\n", "at least one category"),
        (BASE + "[[rules]]\nwhen = {}\ndepartment = 'finance'\n", "at least one field"),
        (BASE + "[[rules]]\nwhen = {category = ['gifts']}\ndepartment = 'finance'\n", "gifts"),
        (BASE + "[[rules]]\nwhen = {urgency = ['high']}\ndepartment = 'nowhere'\n", "nowhere"),
        (BASE + "[writeback.zendesk.categories]\ngifts = 'x'\n", "writeback.zendesk"),
        (
            BASE.replace("[departments.logistics]", "[departments.logistics]\nintercom = {}"),
            "admin_id",
        ),
    ],
)
def test_mistakes_in_the_file_are_refused_and_named(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_routing(text, ".toml")


def test_a_confidence_at_the_threshold_is_trusted() -> None:
    at = choose_department(decision("billing", 0.55), table(), 0.55)
    assert (at.department, at.needs_review) == ("finance", False)
    below = choose_department(decision("billing", 0.5499), table(), 0.55)
    assert (below.department, below.needs_review) == ("people", True)
    assert below.reason == "confidence 0.55 below threshold 0.55"


def test_decisions_carry_the_endpoint_and_reason() -> None:
    routed = choose_department(decision("billing"), table(), 0.5)
    assert routed.endpoint == "http://127.0.0.1:9/finance"
    assert routed.reason == "category 'billing' routes to 'finance'"
    assert routed.rule is None
    recorded = choose_department(decision("shipping"), table(), 0.5)
    assert (recorded.department, recorded.endpoint) == ("logistics", None)


def test_review_goes_to_the_department_the_file_names() -> None:
    unknown = choose_department(decision("gifts", 0.99), table(), 0.5)
    assert (unknown.department, unknown.needs_review) == ("people", True)
    assert unknown.endpoint == "http://127.0.0.1:9/people"
    assert unknown.reason == "category 'gifts' has no route"
    assert send_to_review(table(), "why") == unknown.model_copy(update={"reason": "why"})


def test_a_rule_routes_before_the_category_and_says_which() -> None:
    rules = (
        "[[rules]]\nname = 'angry'\nwhen = {sentiment = ['very_negative']}\n"
        "department = 'finance'\n"
        "[[rules]]\nwhen = {category = ['shipping']}\ndepartment = 'people'\n"
    )
    angry = Classification(
        category="shipping",
        urgency=Urgency.normal,
        language="en",
        confidence=0.9,
        classifier="s",
        model="m",
        sentiment=Sentiment.very_negative,
    )
    routed = choose_department(angry, table(rules), 0.5)
    assert (routed.department, routed.rule, routed.needs_review) == ("finance", "angry", False)
    assert routed.endpoint == "http://127.0.0.1:9/finance"
    assert routed.reason == "angry (sentiment very_negative) routes to 'finance'"

    second = choose_department(decision("shipping", 0.9), table(rules), 0.5)
    assert (second.department, second.rule, second.needs_review) == ("people", "rule 2", True)
    assert second.endpoint == "http://127.0.0.1:9/people"
    # A rule on the category counts only when the category itself is trusted.
    unsure = choose_department(decision("shipping", 0.3), table(rules), 0.5)
    assert unsure.rule is None and unsure.reason.startswith("confidence 0.30 below")


def test_a_rule_to_a_department_without_endpoint_records_only() -> None:
    rules = "[[rules]]\nwhen = {language = ['en']}\ndepartment = 'logistics'\n"
    routed = choose_department(decision("billing"), table(rules), 0.5)
    assert (routed.department, routed.endpoint) == ("logistics", None)


def test_category_descriptions_are_what_the_prompt_lists() -> None:
    assert table().category_descriptions() == {"billing": "Invoices", "shipping": "Parcels"}


def test_helpdesks_written_back_to() -> None:
    assert table().helpdesks() == set()
    text = BASE.replace(
        "[departments.logistics]", "[departments.logistics]\ngithub = {labels = ['x']}"
    )
    assert parse_routing(text, ".toml").helpdesks() == {"github"}
    review = BASE + "[writeback.jira.review]\nlabels = ['triage']\n"
    assert parse_routing(review, ".toml").helpdesks() == {"jira"}
    routed = parse_routing(text, ".toml")
    assert routed.departments["logistics"].helpdesk_target("github") is not None
    assert routed.departments["logistics"].helpdesk_target("zendesk") is None
    assert routed.departments["logistics"].helpdesk_target(None) is None
    assert routed.departments["logistics"].helpdesk_target("email") is None


def test_files_by_suffix(tmp_path: Path) -> None:
    for suffix in (".yaml", ".yml"):
        path = tmp_path / f"r{suffix}"
        path.write_text(
            "review_department: people\ncategories:\n  a: {description: x, department: people}\n"
            "departments:\n  people: {}\n",
            encoding="utf-8",
        )
        assert set(load_routing(path).categories) == {"a"}
    toml = tmp_path / "r.toml"
    toml.write_text(BASE.replace("Invoices", "Rechnungen für Kunden"), encoding="utf-8")
    assert load_routing(toml).categories["billing"].description == "Rechnungen für Kunden"
    with pytest.raises(ConfigurationError, match=r"must be \.toml, \.yaml or \.yml"):
        load_routing(tmp_path / "r.json")
    with pytest.raises(ConfigurationError, match="cannot read routing file"):
        load_routing(tmp_path / "missing.toml")
    with pytest.raises(ConfigurationError, match="not valid yaml"):
        parse_routing("a: [b", ".yaml")
    with pytest.raises(ConfigurationError, match="not valid toml"):
        parse_routing("a = [", ".toml")
    with pytest.raises(ConfigurationError, match="not valid yml"):
        parse_routing("a: [b", ".yml")
