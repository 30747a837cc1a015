"""OpenAITransport on the real `openai` SDK against the stub: requests, errors, Retry-After."""

from __future__ import annotations

import email.utils
import socket
import time
from typing import Any

import httpx
import pytest

from pipeline.classifiers.openai.schema import strict_schema
from pipeline.classifiers.openai.transport import OpenAITransport, parse_retry_after
from pipeline.classifiers.prompt import response_schema
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMQuotaExhausted,
    LLMRejected,
    LLMUnavailable,
)
from pipeline.testing.gemini_responses import StubResponse
from pipeline.testing.openai_responses import (
    completion_response,
    error_response,
    rate_limited,
    schema_problems,
    server_error,
)
from pipeline.testing.openai_stub import OpenAIStub
from tests.pipeline.classifiers.openai.support import API_KEY, CATEGORIES, messages, openai_settings

SCHEMA = response_schema(list(CATEGORIES))
CONTENTS = "<ticket>\n<subject>Charged twice</subject>\n<description>twice</description>\n</ticket>"


def transport(stub: OpenAIStub, **overrides: Any) -> OpenAITransport:
    return OpenAITransport(openai_settings(stub.url, **overrides))


def send(t: OpenAITransport, schema: dict[str, Any] = SCHEMA) -> Any:
    return t.send(
        system="Answer with JSON.", contents=CONTENTS, schema=schema, model="gpt-4.1-mini"
    )


def test_strict_schema_is_a_strict_copy_and_leaves_ours_alone() -> None:
    ours = response_schema(list(CATEGORIES))
    before = repr(ours)
    strict = strict_schema(ours)
    assert repr(ours) == before and "additionalProperties" not in ours  # Gemini's stays as is
    assert strict["additionalProperties"] is False
    assert strict["required"] == list(strict["properties"])
    assert "maxLength" not in strict["properties"]["reason"]
    assert strict["properties"]["category"]["enum"] == list(CATEGORIES)
    assert schema_problems(strict) == [] and schema_problems(ours) != []


def test_json_schema_request_is_strict_and_built_once(stub: OpenAIStub) -> None:
    t = transport(stub)
    answer = send(t)
    send(t)
    assert (answer.prompt_tokens, answer.output_tokens, answer.total_tokens) == (321, 42, 363)
    first, second = stub.recorded()
    assert first.path == "/v1/chat/completions" and first.method == "POST"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in first.text
    body = first.body
    assert body["model"] == "gpt-4.1-mini" and body["temperature"] == 0
    assert messages(first) == {"system": "Answer with JSON.", "user": CONTENTS}
    spec = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema"
    assert (spec["name"], spec["strict"]) == ("triage_answer", True)
    assert spec["schema"]["properties"]["category"]["enum"] == list(CATEGORIES)
    assert first.body == second.body and stub.problems == []
    assert t.format(SCHEMA)[0] is t.format(SCHEMA)[0]  # one response_format per schema object


def test_json_object_mode_puts_the_schema_in_the_system_message(stub: OpenAIStub) -> None:
    send(transport(stub, openai_response_format="json_object"))
    [request] = stub.recorded()
    assert request.body["response_format"] == {"type": "json_object"}
    system = messages(request)["system"]
    assert system.startswith("Answer with JSON.") and '"enum":["billing","shipping"' in system
    assert stub.problems == []


def test_insufficient_quota_429_is_quota_exhausted_never_retried(stub: OpenAIStub) -> None:
    stub.enqueue(error_response(429, "quota", type="insufficient_quota", code="insufficient_quota"))
    with pytest.raises(LLMQuotaExhausted, match="quota exhausted") as caught:
        send(transport(stub))
    assert caught.value.max_retries == 0 and len(stub.recorded()) == 1


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (rate_limited(retry_after="7"), 7.0),
        (rate_limited(retry_after_ms="1500", retry_after="2"), 1.5),
        (rate_limited(reset_requests="2s", reset_tokens="6m0s"), 2.0),
        (rate_limited(kind="tokens", reset_requests="1s", reset_tokens="1m30s"), 90.0),
        (error_response(503, "overloaded", type="server_error", headers={"retry-after": "4"}), 4.0),
    ],
)
def test_429_and_5xx_are_transient_with_retry_after(
    stub: OpenAIStub, response: StubResponse, expected: float | None
) -> None:
    stub.enqueue(response)
    with pytest.raises(LLMUnavailable) as caught:
        send(transport(stub))
    assert type(caught.value) is LLMUnavailable
    assert caught.value.retry_after == expected
    assert caught.value.rate_limited is (response.status == 429)
    assert len(stub.recorded()) == 1  # the SDK did not retry behind the budget's back


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_transient_status_codes(stub: OpenAIStub, status: int) -> None:
    stub.enqueue(server_error(status))
    with pytest.raises(LLMUnavailable, match=str(status)) as caught:
        send(transport(stub))
    assert caught.value.rate_limited is False and len(stub.recorded()) == 1


def test_wrong_key_is_rejected_at_once_without_quoting_it(stub: OpenAIStub) -> None:
    with pytest.raises(LLMRejected) as caught:
        send(transport(stub, openai_api_key="sk-wrong-key-0000000000"))
    message = str(caught.value)
    assert "401" in message and "invalid_api_key" in message
    assert "sk-wrong-key-0000000000" not in message and caught.value.__cause__ is None
    assert len(stub.recorded()) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_client_errors_are_permanent(stub: OpenAIStub, status: int) -> None:
    stub.enqueue(error_response(status, f"key {API_KEY} bad"))
    with pytest.raises(LLMRejected) as caught:
        send(transport(stub))
    assert str(status) in str(caught.value) and API_KEY not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_message_quoting_the_request_is_withheld(stub: OpenAIStub) -> None:
    stub.enqueue(error_response(400, f"Invalid content: {CONTENTS[:60]}", param="messages"))
    with pytest.raises(LLMRejected) as caught:
        send(transport(stub))
    assert "Charged twice" not in str(caught.value) and "withheld" in str(caught.value)


def test_timeout_and_refused_connection_are_transient(stub: OpenAIStub) -> None:
    stub.enqueue(StubResponse(body={}, hold_s=5))
    with pytest.raises(LLMUnavailable, match="unreachable"):
        send(transport(stub, openai_timeout_s=0.3))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = OpenAITransport(openai_settings(f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(LLMUnavailable, match="unreachable"):
        send(t)


def test_a_body_that_is_no_chat_completion_is_a_bad_answer(stub: OpenAIStub) -> None:
    stub.enqueue(StubResponse(body=b"<html>proxy error</html>"))
    with pytest.raises(LLMBadAnswer):
        send(transport(stub))
    for body in ({"id": "x", "object": "chat.completion", "choices": []}, {"id": 1}, [1, 2]):
        stub.enqueue(StubResponse(body=body))
        with pytest.raises(LLMBadAnswer):
            send(transport(stub))


@pytest.mark.parametrize(
    "response",
    [
        completion_response(None, refusal="I can't help with that request about Jane."),
        completion_response("", finish_reason="content_filter"),
    ],
)
def test_refusal_and_content_filter_are_blocked(stub: OpenAIStub, response: StubResponse) -> None:
    stub.enqueue(response)
    answer = send(transport(stub))
    assert answer.text is None and answer.blocked and "Jane" not in answer.blocked


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, None),
        ({"x-ratelimit-reset-requests": "1h2m3.5s"}, 3723.5),
        ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "2s"}, 2.0),
        (
            {
                "x-ratelimit-reset-requests": "20ms",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "2s",
                "x-ratelimit-remaining-tokens": "10",
            },
            0.02,
        ),
        ({"x-ratelimit-reset-requests": "later"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == pytest.approx(expected)


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = parse_retry_after(httpx.Headers({"retry-after": when}))
    assert wait is not None and 25 < wait <= 30


def test_no_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAITransport(openai_settings("http://127.0.0.1:9/v1", openai_api_key=None))


def test_the_stub_refuses_what_openai_refuses_and_notes_leaks(stub: OpenAIStub) -> None:
    body = {
        "model": "gpt-4.1-mini",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": "mail jane.doe@example.com, card 4111 1111 1111 1111"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "triage_answer", "schema": SCHEMA, "strict": True},
        },
    }
    url = f"{stub.url}/chat/completions"
    anonymous = httpx.post(url, json=body)
    assert anonymous.status_code == 401
    assert set(anonymous.json()["error"]) == {"message", "type", "param", "code"}
    refused = httpx.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert (
        refused.status_code == 400 and "additionalProperties" in refused.json()["error"]["message"]
    )
    assert any("e-mail" in p for p in stub.problems) and any("card" in p for p in stub.problems)
    assert httpx.post(f"{stub.url}/completions", json=body).status_code == 404
