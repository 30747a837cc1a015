"""Each connector maps its helpdesk's documented example payload to a ticket, or ignores it."""

from __future__ import annotations

import contextlib
import json

import pytest

from pipeline.connectors import CONNECTORS, Ignored, InboundTicket, MalformedPayload, Unmappable
from pipeline.domain.models import Priority
from tests.support.connectors import email_fixture, example, fixture


def parse(connector: str, headers: dict[str, str], body: bytes) -> InboundTicket | Ignored:
    return CONNECTORS[connector].parse(headers, body)


def ticket(connector: str) -> InboundTicket:
    headers, body, _ = example(connector)
    event = parse(connector, headers, body)
    assert isinstance(event, InboundTicket), event
    return event


def test_zendesk_trigger_template_maps_html_priority_and_id() -> None:
    event = ticket("zendesk")
    submission = event.submission
    assert submission.subject == "Charged twice for my subscription"
    assert submission.description == (
        "Hello,\n\nMy card was charged twice for the December invoice.\n\n"
        "Please refund one of them."
    )
    assert (submission.customer_id, submission.priority) == ("ann@example.com", Priority.high)
    assert submission.external_id == "35436"
    assert event.delivery_id == "8350205582" and not event.fetch
    helpdesk = submission.metadata()["helpdesk"]
    assert helpdesk["connector"] == "zendesk" and helpdesk["tags"] == "billing vip"


def test_zendesk_id_only_event_is_marked_for_fetching() -> None:
    headers, body = fixture("zendesk_event_created.json")
    event = parse("zendesk", headers, body)
    assert isinstance(event, InboundTicket) and event.fetch
    assert event.submission.external_id == "35437"
    assert event.submission.metadata()["helpdesk"]["fetch"] == "zendesk"


@pytest.mark.parametrize(
    "kind", ["zen:event-type:ticket.comment_added", "zen:event-type:ticket.tags_changed"]
)
def test_zendesk_update_events_are_ignored(kind: str) -> None:
    body = json.dumps({"type": kind, "detail": {"id": "1"}}).encode()
    assert isinstance(parse("zendesk", {}, body), Ignored)


def test_github_issue_opened_maps_repo_number_and_priority_label() -> None:
    event = ticket("github")
    submission = event.submission
    assert submission.external_id == "octo-org/hello-world#1347"
    assert submission.subject == "Login page crashes on Safari"
    assert submission.description.startswith("The login page crashes on Safari 17")
    assert "\r" not in submission.description
    assert (submission.customer_id, submission.priority) == ("octocat", Priority.high)
    assert event.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert submission.metadata()["helpdesk"]["number"] == 1347


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("ping", {"zen": "Design for failure.", "hook_id": 1}),
        ("issues", {"action": "labeled", "issue": {}}),
        ("issue_comment", {"action": "created"}),
        ("issues", {"action": "opened", "sender": {"login": "triage[bot]", "type": "Bot"}}),
    ],
)
def test_github_pings_other_actions_and_bots_are_ignored(
    event: str, payload: dict[str, object]
) -> None:
    body = json.dumps(payload).encode()
    assert isinstance(parse("github", {"X-GitHub-Event": event}, body), Ignored)


def test_jira_issue_created_walks_adf_and_maps_priority() -> None:
    event = ticket("jira")
    submission = event.submission
    assert submission.external_id == "SUP-17"
    assert (
        submission.description
        == "Export to PDF fails with error 500.\n- since Monday\n- all browsers"
    )
    assert (submission.customer_id, submission.priority) == ("mia@example.com", Priority.high)
    assert event.delivery_id == "1563378212744-8f6e7a91"


@pytest.mark.parametrize("kind", ["jira:issue_updated", "comment_created", "jira:issue_deleted"])
def test_jira_other_events_are_ignored(kind: str) -> None:
    assert isinstance(parse("jira", {}, json.dumps({"webhookEvent": kind}).encode()), Ignored)


def test_intercom_conversation_maps_first_line_as_subject() -> None:
    event = ticket("intercom")
    submission = event.submission
    assert submission.subject == "Hi, I can't reset my password, the email never arrives."
    assert submission.customer_id == "sam@example.com" and submission.external_id == "147"
    assert event.delivery_id == "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e"


@pytest.mark.parametrize(
    "topic", ["conversation.admin.replied", "conversation.admin.assigned", "ping"]
)
def test_intercom_other_topics_are_ignored(topic: str) -> None:
    assert isinstance(parse("intercom", {}, json.dumps({"topic": topic}).encode()), Ignored)


def test_freshdesk_template_maps_html_and_priority() -> None:
    submission = ticket("freshdesk").submission
    assert (
        submission.description == "The box was crushed and the mug inside is broken.\nOrder #5521."
    )
    assert (submission.priority, submission.external_id) == (Priority.urgent, "2001")
    assert submission.customer_id == "lee@example.com"


def test_freshdesk_update_rule_is_ignored() -> None:
    body = json.dumps({"event": "ticket_updated", "ticket": {"id": "1"}}).encode()
    assert isinstance(parse("freshdesk", {}, body), Ignored)


def test_email_prefers_plain_text_and_trims_signature_and_quote() -> None:
    event = ticket("email")
    submission = event.submission
    assert submission.description == (
        "Hello,\n\nI returned order 8812 two weeks ago and still have no refund.\n\nThanks,\nDana"
    )
    assert submission.customer_id == "dana@example.com"
    assert submission.external_id == "<CAF3x8k2=kq@mail.example.com>"
    assert event.delivery_id == submission.external_id


def test_email_html_only_is_converted_and_quoted_reply_trimmed() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Help\r\nMessage-ID: <1@x>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<div>My app <i>freezes</i>.</div><div>On Mon, 1 Dec 2026, B &lt;b@x&gt; wrote:</div>"
        b"<blockquote>old text</blockquote>"
    )
    event = parse("email", {}, raw)
    assert isinstance(event, InboundTicket)
    assert event.submission.description == "My app freezes."


@pytest.mark.parametrize(
    "header",
    [b"Auto-Submitted: auto-replied", b"In-Reply-To: <0@x>", b"Precedence: bulk"],
)
def test_email_replies_and_auto_replies_are_ignored(header: bytes) -> None:
    raw = b"From: a@example.com\r\nSubject: Re: x\r\nMessage-ID: <2@x>\r\n" + header + b"\r\n\r\nok"
    assert isinstance(parse("email", {}, raw), Ignored)


@pytest.mark.parametrize("connector", ["zendesk", "freshdesk", "jira", "github", "intercom"])
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_malformed(connector: str, body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse(connector, {"X-GitHub-Event": "issues"}, body)


@pytest.mark.parametrize(
    ("connector", "payload"),
    [
        ("zendesk", {"ticket": {"id": "1", "subject": "s"}}),  # no requester
        ("freshdesk", {"ticket": {"subject": "s"}}),  # no id
        ("jira", {"webhookEvent": "jira:issue_created", "issue": {"key": "A-1", "fields": {}}}),
        ("intercom", {"topic": "conversation.user.created", "data": {}}),
        ("zendesk", {"hello": "world"}),
    ],
)
def test_payloads_missing_what_a_ticket_needs_are_unmappable(
    connector: str, payload: dict[str, object]
) -> None:
    with pytest.raises(Unmappable):
        parse(connector, {}, json.dumps(payload).encode())


def test_email_garbage_is_malformed_or_unmappable() -> None:
    with pytest.raises(MalformedPayload):
        parse("email", {}, b"   ")
    with pytest.raises(Unmappable):
        parse("email", {}, email_fixture().replace(b"Message-ID:", b"X-Old-ID:"))


@pytest.mark.parametrize(
    ("connector", "body"),
    [
        ("jira", b"[" * 50_000 + b"]" * 50_000),  # deeper than json's recursion limit
        (
            "zendesk",
            b'{"ticket": {"id": "1", "subject": "s", "requester_email": "a@x",'
            b' "created_at": "9999-12-31T23:59:59-23:59"}}',
        ),
        (
            "github",
            b'{"action": "opened", "issue": {"title": "t", "number": 1, "labels": 7,'
            b' "user": {"login": "u"}}, "repository": {"full_name": "o/r"}, "sender": {}}',
        ),
        ("email", b"From: a@example.com\r\nMessage-ID: <@\r\nSubject: s\r\n\r\nbody"),
        ("email", b"From: <a@\r\nMessage-ID: <1@x>\r\n\r\nbody"),
    ],
)
def test_hostile_bodies_map_or_fail_as_connector_errors(connector: str, body: bytes) -> None:
    """Found by fuzzing: the stdlib and the validators raised raw errors (500s) on these."""
    with contextlib.suppress(MalformedPayload, Unmappable):
        parse(connector, {"X-GitHub-Event": "issues"}, body)
