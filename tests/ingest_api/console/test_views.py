"""The console's views through Flask's test client: sign-in, CSRF, roles, expiry, headers."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest_api.console.base import CSP
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key, revoke_key
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER, submit
from tests.support.tickets import force_status


def mint(store: TicketStore, role: Role, name: str) -> str:
    return create_key(store, TEST_PEPPER.encode(), name, role, "api")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def sign_in(client: FlaskClient, key: str) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    response = client.post("/console/login", data={"api_key": key, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_of(client.get("/console/review").get_data(as_text=True))


def in_review(store: TicketStore, category: str = "billing") -> str:
    ticket_id = submit(store)
    force_status(
        store,
        ticket_id,
        TicketStatus.needs_review,
        category=category,
        confidence=0.31,
        classifier="local",
        department="review",
        review_reason="confidence 0.31 under 0.55",
    )
    return ticket_id


@pytest.fixture
def browser(api: Flask) -> FlaskClient:
    return api.test_client()


def test_pages_need_a_session_and_carry_the_csp(browser: FlaskClient) -> None:
    response = browser.get("/console/review")
    assert response.status_code == 302
    assert response.location.startswith("/console/login?next=")
    login = browser.get("/console/login")
    assert login.headers["Content-Security-Policy"] == CSP
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test below
    assert "<script>" not in login.get_data(as_text=True)  # no inline script anywhere


def test_cookie_is_secure_over_https(browser: FlaskClient) -> None:
    response = browser.get("/console/login", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_key_or_a_producer_key_cannot_sign_in(
    browser: FlaskClient, store: TicketStore
) -> None:
    token = csrf_of(browser.get("/console/login").get_data(as_text=True))
    bad = browser.post("/console/login", data={"api_key": "tt_nope", "csrf_token": token})
    assert bad.status_code == 401
    producer = mint(store, Role.producer, "p")
    denied = browser.post("/console/login", data={"api_key": producer, "csrf_token": token})
    assert denied.status_code == 403


def test_post_without_or_with_a_wrong_csrf_token_is_403(
    browser: FlaskClient, store: TicketStore
) -> None:
    sign_in(browser, mint(store, Role.reviewer, "rev"))
    ticket_id = in_review(store)
    for data in ({"category": "billing"}, {"category": "billing", "csrf_token": "forged"}):
        response = browser.post(
            f"/console/review/{ticket_id}", data=data, headers={"Accept": "application/json"}
        )
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "csrf_failed"
    page = browser.post("/console/logout")  # a page POST gets a page, not JSON
    assert page.status_code == 403 and b"csrf_failed" in page.data
    assert store.get(ticket_id).status == TicketStatus.needs_review
    assert not [e for e in store.audit_trail(ticket_id) if e.event == "corrected"]


def test_reviewer_corrects_as_the_api_does_naming_the_key(
    browser: FlaskClient, store: TicketStore
) -> None:
    token = sign_in(browser, mint(store, Role.reviewer, "ada"))
    ticket_id = in_review(store)
    response = browser.post(
        f"/console/review/{ticket_id}",
        data={"category": "shipping", "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    ticket = store.get(ticket_id)
    assert (ticket.category, ticket.known_category) == ("shipping", "shipping")
    assert ticket.status == TicketStatus.classified  # re-routed: the route stage is queued
    corrected = [e for e in store.audit_trail(ticket_id) if e.event == "corrected"]
    assert [e.detail["by"] for e in corrected] == ["key:ada"]
    assert corrected[0].detail["from"] == "billing"
    assert corrected[0].detail["department"] == "logistics"


def test_bulk_confirm_keeps_each_category(browser: FlaskClient, store: TicketStore) -> None:
    token = sign_in(browser, mint(store, Role.reviewer, "bulk"))
    ids = [in_review(store, "billing"), in_review(store, "technical")]
    response = browser.post(
        "/console/review/bulk",
        data={"ticket_id": ids, "csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert [store.get(i).known_category for i in ids] == ["billing", "technical"]


def test_reader_sees_the_queue_but_cannot_correct_or_replay(
    browser: FlaskClient, store: TicketStore
) -> None:
    token = sign_in(browser, mint(store, Role.reader, "reader"))
    ticket_id = in_review(store)
    page = browser.get("/console/review").get_data(as_text=True)
    assert ticket_id in page and 'class="decide"' not in page
    assert "Replay" not in browser.get(f"/console/tickets/{ticket_id}").get_data(as_text=True)
    for url in (f"/console/review/{ticket_id}", f"/console/tickets/{ticket_id}/replay"):
        denied = browser.post(url, data={"category": "billing", "csrf_token": token})
        assert denied.status_code == 403
    assert store.get(ticket_id).known_category is None


def test_reviewer_replays_but_may_not_reclassify(browser: FlaskClient, store: TicketStore) -> None:
    token = sign_in(browser, mint(store, Role.reviewer, "rep"))
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.failed, failed_stage="route", last_error="HTTP 400")
    page = browser.get("/console/failed").get_data(as_text=True)
    assert "HTTP 400" in page and ticket_id in page
    denied = browser.post(f"/console/tickets/{ticket_id}/classify", data={"csrf_token": token})
    assert denied.status_code == 403
    browser.post("/console/failed/replay", data={"ticket_id": ticket_id, "csrf_token": token})
    reopened = [e for e in store.audit_trail(ticket_id) if e.event == "reopened"]
    assert [e.detail["by"] for e in reopened] == ["key:rep"]
    assert store.get(ticket_id).status != TicketStatus.failed


def test_idle_session_expires(browser: FlaskClient, store: TicketStore, monkeypatch) -> None:
    sign_in(browser, mint(store, Role.reader, "idle"))
    assert browser.get("/console/tickets").status_code == 200
    later = time.time() + 31 * 60  # default TRIAGE_CONSOLE_IDLE_MINUTES is 30
    monkeypatch.setattr(time, "time", lambda: later)
    response = browser.get("/console/tickets")
    assert response.status_code == 302 and "/console/login" in response.location


def test_revoked_key_ends_its_session(api: Flask, store: TicketStore) -> None:
    browser = api.test_client()
    sign_in(browser, mint(store, Role.reviewer, "gone"))
    revoke_key(store, "gone", api.extensions["triage"].keys.changes)  # seen at once, no window
    response = browser.get("/console/review")
    assert response.status_code == 302 and "/console/login" in response.location


def test_search_filters_and_paginates(browser: FlaskClient, store: TicketStore) -> None:
    sign_in(browser, mint(store, Role.reader, "search"))
    ids = [submit(store, customer_id="cus_9", description=f"parcel {i} lost") for i in range(3)]
    submit(store, customer_id="other")
    found = browser.get("/console/tickets?customer_id=cus_9&text=parcel").get_data(as_text=True)
    assert all(i[:8] in found for i in ids) and "other" not in found
    assert browser.get("/console/tickets?from=yesterday").status_code == 422


def test_quality_page_draws_svg_charts(browser: FlaskClient, store: TicketStore) -> None:
    sign_in(browser, mint(store, Role.reader, "q"))
    in_review(store)
    page = browser.get("/console/quality").get_data(as_text=True)
    assert page.count("<svg") >= 3 and "<rect" in page


def test_json_api_lets_a_reviewer_correct_and_replay_not_rerun(
    browser: FlaskClient, store: TicketStore
) -> None:
    reviewer = {"X-API-Key": mint(store, Role.reviewer, "api-rev")}
    reader = {"X-API-Key": mint(store, Role.reader, "api-read")}
    ticket_id = in_review(store)
    body = {"category": "refund"}
    assert (
        browser.post(f"/tickets/{ticket_id}/category", json=body, headers=reader).status_code == 403
    )
    corrected = browser.post(f"/tickets/{ticket_id}/category", json=body, headers=reviewer)
    assert corrected.status_code == 200
    trail = store.audit_trail(ticket_id)
    assert [e.detail["by"] for e in trail if e.event == "corrected"] == ["key:api-rev"]
    failed = submit(store)
    force_status(store, failed, TicketStatus.failed, failed_stage="route", last_error="boom")
    assert browser.post(f"/tickets/{failed}/classify", headers=reviewer).status_code == 403
    assert browser.post(f"/tickets/{failed}/replay", headers=reviewer).status_code == 202
    assert browser.get(f"/tickets/{failed}", headers=reviewer).status_code == 200
