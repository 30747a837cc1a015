"""Loading a routing file: what a refused write-back section says, and what a good file keeps.

An operator fixes a refused file from its message alone, so the message names every culprit
(each unknown category, each department that writes to Intercom). A file is UTF-8 whatever
the host's locale, and the review threshold is inclusive for routing rules as for categories.
"""

from __future__ import annotations

import locale
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import choose_department, load_routing, parse_routing
from tests.conftest import decision
from tests.pipeline.domain.test_routing_contract import BASE

INTERCOM_REQUIRED = (
    "writeback.intercom.admin_id is required: Intercom assigns and tags as an admin "
    "(departments with intercom: {})"
)


def refusal(text: str) -> str:
    with pytest.raises(ConfigurationError) as refused:
        parse_routing(text, ".toml")
    return str(refused.value)


def test_every_unknown_write_back_category_is_named() -> None:
    message = refusal(BASE + "[writeback.freshdesk.categories]\ngifts = 'g'\ntoys = 't'\n")
    assert "writeback.freshdesk.categories: unknown categories: gifts, toys" in message


@pytest.mark.parametrize(
    ("departments", "named"),
    [
        (("logistics",), "logistics"),
        (("finance", "logistics"), "finance, logistics"),
    ],
)
def test_intercom_without_an_admin_names_the_departments_that_need_one(
    departments: tuple[str, ...], named: str
) -> None:
    text = BASE
    for name in departments:
        text = text.replace(f"[departments.{name}]", f"[departments.{name}]\nintercom = {{}}")
    assert INTERCOM_REQUIRED.format(named) in refusal(text)


def test_an_intercom_review_target_without_an_admin_is_refused_too() -> None:
    message = refusal(BASE + "[writeback.intercom.review]\nteam_id = 't1'\n")
    assert INTERCOM_REQUIRED.format("none") in message


def test_intercom_with_an_admin_loads() -> None:
    text = BASE.replace("[departments.logistics]", "[departments.logistics]\nintercom = {}")
    loaded = parse_routing(text + "[writeback.intercom]\nadmin_id = 'a1'\n", ".toml")
    assert loaded.helpdesks() == {"intercom"}


@pytest.fixture
def ascii_locale() -> Iterator[None]:
    """The host's locale is plain C (ASCII), as on a minimal server without UTF-8 locales."""
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def test_a_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path, ascii_locale: None) -> None:
    path = tmp_path / "routing.toml"
    path.write_bytes(BASE.replace("Invoices", "Rechnungen für Kunden").encode("utf-8"))
    loaded = load_routing(path)
    assert loaded.categories["billing"].description == "Rechnungen für Kunden"


def test_a_category_rule_applies_at_exactly_the_threshold() -> None:
    rules = "[[rules]]\nname = 'bills'\nwhen = {category = ['billing']}\ndepartment = 'logistics'\n"
    table = parse_routing(BASE + rules, ".toml")
    at = choose_department(decision("billing", 0.55), table, 0.55)
    assert (at.department, at.rule, at.needs_review) == ("logistics", "bills", False)
    assert at.reason == "bills (category billing) routes to 'logistics'"
    below = choose_department(decision("billing", 0.5499), table, 0.55)
    assert (below.department, below.rule, below.needs_review) == ("people", None, True)
    assert below.reason == "confidence 0.55 below threshold 0.55"
