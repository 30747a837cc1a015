"""Helpers of the attack suite: a live API whose `signer` source must sign, keys, signatures."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.adapters.signatures import sign_webhook
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.security.conftest import LiveApi, start_live_api

SECRET = "whsec_" + base64.b64encode(b"attack-suite-signing-secret-0001").decode()
SIGNING_SOURCE = "signer"  # a source with a webhook secret: it must sign every ticket


def ticket(**extra: Any) -> dict[str, Any]:
    """A valid POST /tickets body."""
    return {"subject": "printer on fire", "description": "it smokes", "customer_id": "c-1", **extra}


def mint_key(api: LiveApi, name: str, role: Role = Role.producer, source: str = "api") -> str:
    """A new key in the live API's database."""
    store = open_store(Settings(database_url=api.database_url))
    try:
        return create_key(store, TEST_PEPPER.encode(), name, role, source)
    finally:
        store.engine.dispose()


def signed(body: bytes, msg_id: str) -> dict[str, str]:
    """The Standard Webhooks headers of `body` under the suite's secret."""
    return sign_webhook(SECRET, msg_id, body)


def raw_post(api: LiveApi, path: str, body: bytes, key: str, **headers: str) -> httpx.Response:
    """POST raw bytes as JSON with a key."""
    return httpx.post(
        api.base_url + path,
        content=body,
        headers={"X-API-Key": key, "Content-Type": "application/json", **headers},
        timeout=30,
    )


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def signing_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """A real API (PostgreSQL, Redis) where source `signer` must sign and zendesk has a secret."""
    env = {
        "TRIAGE_WEBHOOK_SECRETS": json.dumps({SIGNING_SOURCE: [SECRET]}),
        "TRIAGE_ZENDESK_WEBHOOK_SECRET": "zendesk-attack-secret",
    }
    with start_live_api(tmp_path_factory.mktemp("signing-api"), extra_env=env, workers=1) as api:
        yield api
