"""Each helpdesk writer against its stub: the documented call, 429 waits, 4xx fails at once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline.domain.retry_policy import RetryLimits, RetryNow, decide_retry
from pipeline.domain.writeback import HelpdeskRejected, HelpdeskUnavailable, WritebackRequest
from pipeline.helpdesks.freshdesk import FreshdeskWriter
from pipeline.helpdesks.github import GitHubWriter
from pipeline.helpdesks.intercom import IntercomWriter
from pipeline.helpdesks.jira import JiraWriter
from pipeline.helpdesks.zendesk import ZendeskWriter
from pipeline.ports import HelpdeskWriter
from pipeline.testing.helpdesk_stubs import (
    FreshdeskStub,
    GitHubStub,
    HelpdeskStub,
    IntercomStub,
    JiraStub,
    ZendeskStub,
)


@dataclass
class Rig:
    stub: HelpdeskStub
    writer: HelpdeskWriter
    request: WritebackRequest
    bad: WritebackRequest  # a request the helpdesk refuses as invalid
    wrong_key: HelpdeskWriter
    secret: str


def _rig(name: str, stub: HelpdeskStub) -> Rig:
    url = stub.url
    if name == "zendesk":
        good = WritebackRequest(
            "zendesk",
            "35436",
            False,
            group_id=360001,
            tags=("triage-billing",),
            priority="high",
            fields={"360005": "billing"},
        )
        return Rig(
            stub,
            ZendeskWriter(url, "agent@example.com", "zd-token"),
            good,
            WritebackRequest("zendesk", "35436", False, priority="p0"),
            ZendeskWriter(url, "agent@example.com", "nope"),
            "zd-token",
        )
    if name == "freshdesk":
        good = WritebackRequest(
            "freshdesk", "42", False, group_id=42, tags=("billing",), priority=3
        )
        return Rig(
            stub,
            FreshdeskWriter(url, "fd-key"),
            good,
            WritebackRequest("freshdesk", "42", False, priority=9),
            FreshdeskWriter(url, "nope"),
            "fd-key",
        )
    if name == "jira":
        good = WritebackRequest(
            "jira",
            "SUP-7",
            False,
            tags=("billing",),
            priority="High",
            fields={"customfield_10010": "billing"},
        )
        return Rig(
            stub,
            JiraWriter(url, "bot@example.com", "jira-token"),
            good,
            WritebackRequest("jira", "SUP-7", False, tags=("two words",)),
            JiraWriter(url, "bot@example.com", "nope"),
            "jira-token",
        )
    if name == "github":
        good = WritebackRequest(
            "github", "acme/shop#12", False, tags=("billing",), assignees=("octocat",)
        )
        return Rig(
            stub,
            GitHubWriter(url, "ghp-token"),
            good,
            WritebackRequest("github", "acme/shop#12", False, assignees=("",)),
            GitHubWriter(url, "nope"),
            "ghp-token",
        )
    good = WritebackRequest(
        "intercom", "123456", False, group_id="5017", tags=("7522",), admin_id="814860"
    )
    return Rig(
        stub,
        IntercomWriter(url, "ic-token"),
        good,
        WritebackRequest("intercom", "123456", False, group_id="", admin_id="814860"),
        IntercomWriter(url, "nope"),
        "ic-token",
    )


STUBS = {
    "zendesk": ZendeskStub,
    "freshdesk": FreshdeskStub,
    "jira": JiraStub,
    "github": GitHubStub,
    "intercom": IntercomStub,
}


@pytest.fixture(params=sorted(STUBS))
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    stub = STUBS[request.param]().start()
    yield _rig(request.param, stub)
    stub.stop()


EXPECTED = {
    "zendesk": [("PUT", "/api/v2/tickets/35436.json")],
    "freshdesk": [("PUT", "/api/v2/tickets/42")],
    "jira": [("PUT", "/rest/api/3/issue/SUP-7")],
    "github": [
        ("POST", "/repos/acme/shop/issues/12/labels"),
        ("POST", "/repos/acme/shop/issues/12/assignees"),
    ],
    "intercom": [("POST", "/conversations/123456/parts"), ("POST", "/conversations/123456/tags")],
}
STATE: dict[str, tuple[str, dict[str, Any]]] = {
    "zendesk": ("35436", {"tags": ["triage-billing"], "group_id": 360001, "priority": "high"}),
    "freshdesk": ("42", {"tags": ["billing"], "group_id": 42, "priority": 3}),
    "jira": ("SUP-7", {"tags": ["billing"]}),
    "github": ("acme/shop#12", {"tags": ["billing"], "assignees": ["octocat"]}),
    "intercom": ("123456", {"tags": ["7522"], "team_assignee_id": "5017"}),
}


def test_a_write_back_makes_the_documented_calls(rig: Rig) -> None:
    receipt = rig.writer.write_back(rig.request)

    assert 200 <= receipt.status_code < 300
    assert rig.stub.problems == []
    sent = [(r.method, r.path) for r in rig.stub.accepted()]
    assert sent == EXPECTED[rig.writer.name]
    ref, expected = STATE[rig.writer.name]
    assert rig.stub.state[ref].items() >= expected.items()


def test_zendesk_adds_tags_and_sets_custom_fields() -> None:
    stub = ZendeskStub().start()
    try:
        rig = _rig("zendesk", stub)
        rig.writer.write_back(rig.request)
        assert stub.recorded()[0].body == {
            "ticket": {
                "group_id": 360001,
                "additional_tags": ["triage-billing"],
                "priority": "high",
                "custom_fields": [{"id": 360005, "value": "billing"}],
            }
        }
    finally:
        stub.stop()


def test_jira_sets_fields_and_adds_labels() -> None:
    stub = JiraStub().start()
    try:
        rig = _rig("jira", stub)
        assert rig.writer.write_back(rig.request).status_code == 204
        assert stub.recorded()[0].body == {
            "fields": {"customfield_10010": "billing", "priority": {"name": "High"}},
            "update": {"labels": [{"add": "billing"}]},
        }
    finally:
        stub.stop()


def test_a_rate_limit_is_retried_after_the_wait_the_helpdesk_asked_for(rig: Rig) -> None:
    rig.stub.enqueue(rig.stub.rate_limited(retry_after=7))

    with pytest.raises(HelpdeskUnavailable) as raised:
        rig.writer.write_back(rig.request)
    assert raised.value.retry_after is not None and 5.5 <= raised.value.retry_after <= 7
    limits = RetryLimits(max_retries=5, backoff_max_s=1.0, defer_after_s=60.0)
    wait = decide_retry(raised.value, attempt=1, limits=limits, retries=0, rng=random.Random(1))
    assert isinstance(wait, RetryNow) and wait.countdown >= raised.value.retry_after

    rig.writer.write_back(rig.request)  # the retry goes through
    assert len(rig.stub.accepted()) == len(EXPECTED[rig.writer.name]) + 1


def test_a_validation_error_fails_at_once_with_the_helpdesks_answer(rig: Rig) -> None:
    with pytest.raises(HelpdeskRejected) as raised:
        rig.writer.write_back(rig.bad)

    # Freshdesk, Jira and Intercom answer validation errors 400, Zendesk and GitHub 422.
    assert raised.value.status in (400, 422)
    assert raised.value.body and raised.value.body[:100] in str(raised.value)
    assert rig.stub.problems  # the stub saw what was wrong
    assert len(rig.stub.recorded()) == 1  # failed at once: not retried


def test_a_wrong_credential_is_401_and_never_echoed(rig: Rig) -> None:
    with pytest.raises(HelpdeskRejected) as raised:
        rig.wrong_key.write_back(rig.request)

    assert raised.value.status == 401
    assert "nope" not in str(raised.value) and rig.secret not in str(raised.value)
    assert rig.stub.state == {}
