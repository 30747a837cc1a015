"""Stub helpdesk APIs on 127.0.0.1 for write-back: Zendesk, Freshdesk, Jira, GitHub, Intercom.

Each checks what a write-back sends as the helpdesk's API reference gives it (method, path, auth
header, body keys; pages cited per class), answers a wrong credential 401 and a bad body with the
helpdesk's own validation error, and otherwise the scripted answers (`rate_limited`, ...) in
order, then its documented success. What each ticket was given is kept in `state`. Standard
library only.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse
from pipeline.testing.helpdesk_stub_base import HelpdeskStub, basic

__all__ = [
    "FreshdeskStub",
    "GitHubStub",
    "HelpdeskStub",
    "IntercomStub",
    "JiraStub",
    "ZendeskStub",
    "basic",
]


class ZendeskStub(HelpdeskStub):
    """https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket;
    errors: https://developer.zendesk.com/api-reference/introduction/requests/#response-format"""

    name = "zendesk-stub"
    routes = (("PUT", r"/api/v2/tickets/(\d+)\.json"),)
    KEYS = frozenset({"group_id", "tags", "additional_tags", "priority", "custom_fields"})

    def __init__(self, email: str = "agent@example.com", token: str = "zd-token") -> None:
        super().__init__(basic(f"{email}/token", token))

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        ticket = body.get("ticket")
        if set(body) != {"ticket"} or not isinstance(ticket, dict) or not ticket:
            return 'the body must be {"ticket": {...}}'
        if set(ticket) - self.KEYS:
            return f"unexpected ticket keys: {sorted(set(ticket) - self.KEYS)}"
        if ticket.get("priority", "low") not in {"low", "normal", "high", "urgent"}:
            return f"Priority: {ticket['priority']} is not valid"
        fields = ticket.get("custom_fields", [])
        if not all(isinstance(f, dict) and set(f) == {"id", "value"} for f in fields):
            return "custom_fields must be [{id, value}]"
        return None

    def invalid(self, problem: str) -> StubResponse:
        details = {"base": [{"description": problem, "error": "InvalidValue"}]}
        return StubResponse(
            422,
            {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": details,
            },
        )

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        update = body["ticket"]
        ticket = self._keep(
            matched[1],
            group_id=update.get("group_id"),
            priority=update.get("priority"),
            tags=update.get("additional_tags", []),
            custom_fields=update.get("custom_fields"),
        )
        return StubResponse(200, {"ticket": {"id": int(matched[1]), **ticket}})


class FreshdeskStub(HelpdeskStub):
    """https://developers.freshdesk.com/api/#update_ticket; errors (400 "Validation failed"):
    https://developers.freshdesk.com/api/#error"""

    name = "freshdesk-stub"
    routes = (("PUT", r"/api/v2/tickets/(\d+)"),)
    KEYS = frozenset({"group_id", "priority", "tags", "status", "custom_fields", "responder_id"})

    def __init__(self, api_key: str = "fd-key") -> None:
        super().__init__(basic(api_key, "X"))

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        if not body or set(body) - self.KEYS:
            return f"invalid_field: {sorted(set(body) - self.KEYS) or 'empty body'}"
        if body.get("priority", 1) not in (1, 2, 3, 4):
            return "priority: It should be one of these values: '1,2,3,4'"
        return None

    def unauthorized(self) -> StubResponse:
        return StubResponse(
            401,
            {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
        )

    def invalid(self, problem: str) -> StubResponse:
        field, _, message = problem.partition(": ")
        errors = [{"field": field, "message": message, "code": "invalid_value"}]
        return StubResponse(400, {"description": "Validation failed", "errors": errors})

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        ticket = self._keep(
            matched[1],
            group_id=body.get("group_id"),
            priority=body.get("priority"),
            tags=body.get("tags", []),
        )
        return StubResponse(200, {"id": int(matched[1]), **ticket})


class JiraStub(HelpdeskStub):
    """https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put
    (204 No Content; 400 `{"errorMessages", "errors"}`)"""

    name = "jira-stub"
    routes = (("PUT", r"/rest/api/3/issue/([A-Z][A-Z0-9]*-\d+)"),)

    def __init__(self, email: str = "bot@example.com", token: str = "jira-token") -> None:
        super().__init__(basic(email, token))

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        if not body or set(body) - {"fields", "update"}:
            return "the body takes `fields` and `update`"
        labels = body.get("update", {}).get("labels", [])
        if not all(isinstance(op, dict) and list(op) == ["add"] for op in labels):
            return 'labels: update.labels must be [{"add": label}]'
        spaced = [op["add"] for op in labels if re.search(r"\s", str(op["add"]))]
        if spaced:
            return f"labels: The label '{spaced[0]}' contains spaces which is invalid."
        return None

    def unauthorized(self) -> StubResponse:
        return StubResponse(401, {"errorMessages": ["Client must be authenticated."], "errors": {}})

    def invalid(self, problem: str) -> StubResponse:
        field, _, message = problem.partition(": ")
        return StubResponse(400, {"errorMessages": [], "errors": {field: message}})

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        labels = [op["add"] for op in body.get("update", {}).get("labels", [])]
        self._keep(matched[1], fields=body.get("fields"), tags=labels)
        return StubResponse(204, b"")


class GitHubStub(HelpdeskStub):
    """https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue and
    https://docs.github.com/en/rest/issues/assignees#add-assignees-to-an-issue"""

    name = "github-stub"
    routes = (("POST", r"/repos/([\w.-]+/[\w.-]+)/issues/(\d+)/(labels|assignees)"),)

    def __init__(self, token: str = "ghp-token") -> None:
        super().__init__(f"Bearer {token}")

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        if request.headers.get("accept") != "application/vnd.github+json":
            return "Accept must be application/vnd.github+json"
        if request.headers.get("x-github-api-version") != "2022-11-28":
            return "X-GitHub-Api-Version must be 2022-11-28"
        kind = request.path.rsplit("/", 1)[-1]
        values = body.get(kind)
        if set(body) != {kind} or not isinstance(values, list) or not values:
            return f"the body must be {{{kind!r}: [...]}}"
        if not all(isinstance(value, str) and value for value in values):
            return f"{kind} must be non-empty names"
        return None

    def unauthorized(self) -> StubResponse:
        return StubResponse(
            401,
            {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            },
        )

    def invalid(self, problem: str) -> StubResponse:
        return StubResponse(
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "invalid", "message": problem}],
                "documentation_url": "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue",
                "status": "422",
            },
        )

    def rate_limited(self, retry_after: float = 1) -> StubResponse:
        """GitHub's primary rate limit: 403, remaining 0, reset as epoch seconds."""
        import time

        reset = str(int(time.time() + retry_after))
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        return StubResponse(403, {"message": "API rate limit exceeded"}, headers)

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        ref = f"{matched[1]}#{matched[2]}"
        if matched[3] == "labels":
            ticket = self._keep(ref, tags=body["labels"])
            return StubResponse(200, [{"name": name, "default": False} for name in ticket["tags"]])
        ticket = self._keep(ref, assignees=body["assignees"])
        logins = [{"login": login} for login in ticket["assignees"]]
        return StubResponse(201, {"number": int(matched[2]), "assignees": logins})


class IntercomStub(HelpdeskStub):
    """https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/conversations/manageconversation
    and .../tags/attachtagtoconversation; errors are `{"type": "error.list", "errors": [...]}`"""

    name = "intercom-stub"
    routes = (("POST", r"/conversations/(\w+)/(parts|tags)"),)

    def __init__(self, token: str = "ic-token") -> None:
        super().__init__(f"Bearer {token}")

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        if not request.headers.get("intercom-version"):
            return "Intercom-Version header missing"
        if request.path.endswith("/tags"):
            return None if set(body) == {"id", "admin_id"} else "tags take {id, admin_id}"
        wanted = {"message_type": "assignment", "type": "team"}
        if any(body.get(k) != v for k, v in wanted.items()) or not body.get("admin_id"):
            return "assignment takes message_type, type, admin_id, assignee_id"
        return None if body.get("assignee_id") else "assignee_id missing"

    def _errors(self, status: int, code: str, message: str) -> StubResponse:
        errors = [{"code": code, "message": message}]
        return StubResponse(status, {"type": "error.list", "request_id": "stub", "errors": errors})

    def unauthorized(self) -> StubResponse:
        return self._errors(401, "unauthorized", "Access Token Invalid")

    def invalid(self, problem: str) -> StubResponse:
        return self._errors(400, "parameter_invalid", problem)

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        if matched[2] == "tags":
            self._keep(matched[1], tags=[body["id"]])
            return StubResponse(200, {"type": "tag", "id": body["id"], "name": body["id"]})
        self._keep(matched[1], team_assignee_id=body["assignee_id"])
        return StubResponse(200, {"type": "conversation", "id": matched[1]})
