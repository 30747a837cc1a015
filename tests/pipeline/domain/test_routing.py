"""Routing rules: pure decisions, and strict validation of the routing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import choose_department, load_routing, parse_routing
from tests.conftest import EXAMPLE_ROUTING, decision


def test_default_file_routes_every_category_without_endpoints() -> None:
    table = load_routing(None)
    assert len(table.categories) == 8
    assert all(d.endpoint is None for d in table.departments.values())
    result = choose_department(decision("shipping"), table, 0.5)
    assert (result.department, result.endpoint, result.needs_review) == ("logistics", None, False)


def test_example_file_has_an_endpoint_per_department() -> None:
    table = load_routing(EXAMPLE_ROUTING)
    result = choose_department(decision("security"), table, 0.5)
    assert result.endpoint == "http://127.0.0.1:9100/departments/security"


def test_low_confidence_goes_to_review() -> None:
    result = choose_department(decision("billing", 0.3), load_routing(None), 0.55)
    assert result.department == "review" and result.needs_review
    assert "below threshold" in result.reason


def test_label_without_route_goes_to_review() -> None:
    result = choose_department(decision("warranty", 0.99), load_routing(None), 0.55)
    assert result.department == "review" and result.needs_review
    assert "no route" in result.reason


def test_yaml_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "review_department: people\n"
        "categories:\n  billing: {description: money, department: finance}\n"
        "departments:\n  finance: {endpoint: 'http://127.0.0.1:1/x'}\n  people: {}\n"
    )
    table = load_routing(path)
    assert choose_department(decision("billing"), table, 0.5).department == "finance"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[categories.a]\ndescription='x'\ndepartment='nowhere'\n[departments.review]\n",
            "not declared",
        ),
        ("categories = 3", "invalid"),
        ("[categories.a\n", "not valid toml"),
        (
            "[categories.a]\ndescription='x'\ndepartment='d'\n[departments.d]\nendpoint='ftp:x'\n"
            "[departments.review]\n",
            "invalid",
        ),
    ],
)
def test_invalid_files_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_routing(text, ".toml")
