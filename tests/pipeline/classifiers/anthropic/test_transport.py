"""AnthropicTransport on the real anthropic SDK against our stub Messages API on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.classifiers.anthropic.retry_after import parse_retry_after
from pipeline.classifiers.anthropic.transport import (
    ANSWER_MAX_TOKENS,
    TOOL_NAME,
    AnthropicTransport,
    make_client,
    max_tokens_for,
)
from pipeline.classifiers.prompt import build_prompt, response_schema
from pipeline.domain.classification import TicketText
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMQuotaExhausted,
    LLMRejected,
    LLMUnavailable,
)
from pipeline.settings import Settings
from pipeline.testing.anthropic_responses import (
    StubResponse,
    answer,
    error_response,
    message_response,
    rate_limited,
    tool_use_message,
)
from pipeline.testing.anthropic_stub import AnthropicStub, leaks_pii, running_stub

API_KEY = "sk-ant-TEST-never-log-me-0123456789"
CATEGORIES = {"billing": "charges and refunds", "shipping": "parcels and tracking"}
SYSTEM, CONTENTS = build_prompt(
    TicketText(subject="Charged twice", description="Two charges this month."), CATEGORIES
)
SCHEMA = response_schema(list(CATEGORIES))


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with running_stub(api_key=API_KEY) as server:
        yield server


def settings_for(base_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        anthropic_api_key=API_KEY,
        anthropic_base_url=base_url,
        anthropic_timeout_s=5.0,
        broker_url="memory://",
        redis_url=None,
    )
    return Settings(**(values | overrides))


def send(transport: AnthropicTransport, contents: str = CONTENTS) -> Any:
    return transport.send(system=SYSTEM, contents=contents, schema=SCHEMA, model="claude-haiku-4-5")


def test_request_forces_the_tool_with_our_schema(stub: AnthropicStub) -> None:
    result = send(AnthropicTransport(settings_for(stub.url)))
    assert result.text is not None and '"category": "billing"' in result.text
    assert (result.prompt_tokens, result.output_tokens, result.total_tokens) == (321, 42, 363)
    [request] = stub.recorded()
    assert stub.refused == []  # every check of the stub passed
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"  # the 2.x SDK's header
    assert request.headers["anthropic-version"] >= "2026-10-21"
    assert request.headers["x-stainless-retry-count"] == "0"
    assert API_KEY not in request.text
    body = request.body
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == ANSWER_MAX_TOKENS
    assert body["system"] == SYSTEM
    assert body["messages"] == [{"role": "user", "content": CONTENTS}]
    assert not {"temperature", "top_p", "top_k"} & set(body)  # refused by API 2026-10-21
    [tool] = body["tools"]
    assert tool["name"] == TOOL_NAME and tool["description"]
    assert tool["input_schema"]["properties"]["category"]["enum"] == list(CATEGORIES)
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}


def test_tool_definition_is_built_once_per_schema(stub: AnthropicStub) -> None:
    transport = AnthropicTransport(settings_for(stub.url))
    assert transport.tools(SCHEMA) is transport.tools(SCHEMA)
    send(transport)
    send(transport)
    first, second = (r.body["tools"] for r in stub.recorded())
    assert first == second


def test_max_tokens_grow_with_the_group() -> None:
    group = "".join(f'<ticket id="t{i}">\n</ticket>\n' for i in range(10))
    assert max_tokens_for(CONTENTS) == ANSWER_MAX_TOKENS
    assert ANSWER_MAX_TOKENS < max_tokens_for(group) <= 16_000
    assert max_tokens_for(group * 500) == 16_000


@pytest.mark.parametrize("code", [408, 409, 500, 502, 503, 504, 529])
def test_transient_statuses_are_unavailable_after_one_request(
    stub: AnthropicStub, code: int
) -> None:
    stub.enqueue(error_response(code, "Overloaded"))
    with pytest.raises(LLMUnavailable, match=str(code)) as caught:
        send(AnthropicTransport(settings_for(stub.url)))
    assert caught.value.rate_limited is False
    assert len(stub.recorded()) == 1  # SDK retries are off


def test_429_is_rate_limited_with_the_services_wait(stub: AnthropicStub) -> None:
    stub.enqueue(rate_limited(7))
    with pytest.raises(LLMUnavailable, match="429 rate_limit_error") as caught:
        send(AnthropicTransport(settings_for(stub.url)))
    assert caught.value.rate_limited is True and caught.value.retry_after == 7.0
    assert len(stub.recorded()) == 1


def test_spend_limit_429_is_quota_exhausted_never_retried(stub: AnthropicStub) -> None:
    spent = error_response(429, "spend limit reached")
    spent.body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    stub.enqueue(spent)
    with pytest.raises(LLMQuotaExhausted, match=r"quota exhausted .*spend limit") as caught:
        send(AnthropicTransport(settings_for(stub.url)))
    assert caught.value.max_retries == 0 and len(stub.recorded()) == 1


@pytest.mark.parametrize("code", [400, 403, 404, 413])
def test_client_errors_are_rejected_at_once(stub: AnthropicStub, code: int) -> None:
    stub.enqueue(error_response(code, "nope"))
    with pytest.raises(LLMRejected, match=f"{code} .*: nope"):
        send(AnthropicTransport(settings_for(stub.url)))
    assert len(stub.recorded()) == 1


def test_wrong_key_is_rejected_and_never_quoted(stub: AnthropicStub) -> None:
    wrong = "sk-ant-WRONG-key-0123456789"
    with pytest.raises(LLMRejected, match="401 authentication_error") as caught:
        send(AnthropicTransport(settings_for(stub.url, anthropic_api_key=wrong)))
    assert wrong not in str(caught.value) and len(stub.recorded()) == 1


def test_rejection_withholds_a_message_quoting_the_request(stub: AnthropicStub) -> None:
    stub.enqueue(error_response(400, f"bad: {CONTENTS[:60]} ... {API_KEY}"))
    with pytest.raises(LLMRejected, match="withheld") as caught:
        send(AnthropicTransport(settings_for(stub.url)))
    assert CONTENTS[:30] not in str(caught.value) and API_KEY not in str(caught.value)


def test_timeout_and_refused_connection_are_unavailable(stub: AnthropicStub) -> None:
    stub.enqueue(StubResponse(body={}, hold_s=5))
    with pytest.raises(LLMUnavailable, match="unreachable: APITimeoutError"):
        send(AnthropicTransport(settings_for(stub.url, anthropic_timeout_s=0.3)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LLMUnavailable, match="unreachable: APIConnectionError"):
        send(AnthropicTransport(settings_for(f"http://127.0.0.1:{port}")))


@pytest.mark.parametrize(
    "response",
    [
        StubResponse(body="{not json"),
        message_response([{"type": "text", "text": '{"category": "billing"}'}]),
        tool_use_message(answer(), name="another_tool"),
        StubResponse(body={"unexpected": True}),
    ],
    ids=["not-json", "text-only", "other-tool", "not-a-message"],
)
def test_answers_without_our_tool_call_are_bad_answers(
    stub: AnthropicStub, response: StubResponse
) -> None:
    stub.enqueue(response)
    with pytest.raises(LLMBadAnswer):
        send(AnthropicTransport(settings_for(stub.url)))


def test_refusal_is_rejected(stub: AnthropicStub) -> None:
    stub.enqueue(message_response([], stop_reason="refusal"))
    with pytest.raises(LLMRejected, match="refusal"):
        send(AnthropicTransport(settings_for(stub.url)))


def test_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        make_client(settings_for(None, anthropic_api_key=None))


def test_key_from_the_environment(stub: AnthropicStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    send(AnthropicTransport(settings_for(stub.url, anthropic_api_key=None)))
    assert stub.recorded()[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_stub_refuses_sampling_parameters_and_pii(stub: AnthropicStub) -> None:
    client = make_client(settings_for(stub.url))
    with pytest.raises(Exception, match="temperature: Extra inputs are not permitted"):
        client.messages.create(
            model="m",
            max_tokens=10,
            system="s",
            messages=[{"role": "user", "content": "x"}],
            tools=[{"name": "t", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "t"},
            extra_body={"temperature": 0},
        )
    assert leaks_pii("mail jane.doe@example.com") and leaks_pii("card 4111 1111 1111 1111")
    assert not leaks_pii('<ticket id="12345678-1234-1234-1234-123456789012">[card]')


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, 10.0),
        (
            {
                "anthropic-ratelimit-requests-remaining": "3",
                "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:05Z",
                "anthropic-ratelimit-tokens-remaining": "0",
                "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:20Z",
            },
            20.0,
        ),
        ({"anthropic-ratelimit-requests-reset": "2027-01-15T08:00:04+00:00"}, 4.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_from_the_headers(headers: dict[str, str], expected: float | None) -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert parse_retry_after(headers, now=now) == expected
