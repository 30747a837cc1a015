"""What every helpdesk write-back stub shares: route, authenticate, validate, record, answer.

Standard library only; the stubs themselves are in `pipeline.testing.helpdesk_stubs`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse
from pipeline.testing.stub_server import StubServer

Check = Callable[[re.Match[str], Any], str | None]  # a problem with the body, or None


def basic(user: str, password: str) -> str:
    """The `Authorization` value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HelpdeskStub(StubServer):
    """The shared part: route, authenticate, validate, record, answer."""

    routes: tuple[tuple[str, str], ...] = ()  # (method, path regex)

    def __init__(self, authorization: str) -> None:
        super().__init__()
        self.authorization = authorization
        self.problems: list[str] = []
        self.state: dict[str, dict[str, Any]] = {}

    def accepted(self) -> list[RecordedRequest]:
        """The requests that passed every check (what the helpdesk would have applied)."""
        return [r for r in self.recorded() if self._route(r) and self._problem(r) is None]

    def _answer(self, request: RecordedRequest) -> StubResponse:
        self._record(request)
        if request.headers.get("authorization") != self.authorization:
            return self.unauthorized()
        matched = self._route(request)
        if matched is None:
            self.problems.append(f"{request.method} {request.path}: no such endpoint")
            return self.not_found()
        problem = self._problem(request)
        if problem is not None:
            self.problems.append(problem)
            return self.invalid(problem)
        scripted = self._next_scripted()
        if scripted is not None and scripted.status >= 300:
            return scripted
        return self.success(matched, request.body)

    def _route(self, request: RecordedRequest) -> re.Match[str] | None:
        for method, pattern in self.routes:
            found = re.fullmatch(pattern, request.path)
            if found and request.method == method:
                return found
        return None

    def _problem(self, request: RecordedRequest) -> str | None:
        body = request.body
        if not isinstance(body, dict):
            return "the body is not a JSON object"
        if not request.headers.get("content-type", "").startswith("application/json"):
            return "Content-Type is not application/json"
        return self.check(request, body)

    def check(self, request: RecordedRequest, body: dict[str, Any]) -> str | None:
        """The helpdesk's own checks of a request (each stub)."""
        return None

    def success(self, matched: re.Match[str], body: Any) -> StubResponse:
        """The documented answer to an accepted write (each stub)."""
        raise NotImplementedError

    def unauthorized(self) -> StubResponse:
        """The helpdesk's 401."""
        return StubResponse(401, {"error": "Couldn't authenticate you"})

    def not_found(self) -> StubResponse:
        """The helpdesk's 404."""
        return StubResponse(404, {"error": "RecordNotFound", "description": "Not found"})

    def invalid(self, problem: str) -> StubResponse:
        """The helpdesk's validation error."""
        return StubResponse(422, {"error": "RecordInvalid", "description": problem})

    def rate_limited(self, retry_after: float = 1) -> StubResponse:
        """A 429 asking to come back after `retry_after` seconds."""
        return StubResponse(429, {"error": "rate limited"}, {"Retry-After": f"{retry_after:g}"})

    def _keep(self, ref: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            ticket = self.state.setdefault(ref, {"tags": []})
            for key, value in changes.items():
                if key == "tags":
                    ticket["tags"] = list(dict.fromkeys([*ticket["tags"], *value]))
                elif value is not None:
                    ticket[key] = value
            return dict(ticket)
