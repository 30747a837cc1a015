"""Links in answers point at the real routes, under whatever prefix the app is mounted."""

from __future__ import annotations

from flask import Flask

from ingest_api.presenters import ticket_links


def test_links_resolve_to_the_ticket_routes(api: Flask) -> None:
    with api.test_request_context("/tickets"):
        links = ticket_links("3f2c9a9e-0000-4000-8000-000000000001")
    adapter = api.url_map.bind("localhost")
    assert adapter.match(links.self, method="GET") == (
        "tickets.get_ticket",
        {"ticket_id": "3f2c9a9e-0000-4000-8000-000000000001"},
    )
    assert adapter.match(links.logs, method="GET")[0] == "tickets.get_ticket_logs"


def test_links_keep_the_mount_prefix(api: Flask) -> None:
    with api.test_request_context("/tickets", base_url="http://localhost/triage/"):
        links = ticket_links("abc")
    assert (links.self, links.logs) == ("/triage/tickets/abc", "/triage/tickets/abc/logs")
