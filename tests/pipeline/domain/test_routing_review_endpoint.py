"""A review department without an endpoint records its tickets; it never posts to "None"."""

from __future__ import annotations

from pipeline.domain.routing import parse_routing, send_to_review

ROUTING = """
review_department = "people"
[categories.billing]
description = "Invoices"
department = "finance"
[departments.finance]
endpoint = "http://127.0.0.1:9/finance"
[departments.people]
"""


def test_review_without_an_endpoint_is_recorded_not_delivered() -> None:
    review = send_to_review(parse_routing(ROUTING, ".toml"), "low confidence")
    assert (review.department, review.needs_review) == ("people", True)
    assert review.endpoint is None
    assert review.reason == "low confidence"
