"""Class 8 and the revoked-key bound of class 9, against a real `triage api` (2 workers)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import LiveApi, start_live_api

AUTH_REDIS_DB = 6  # this module's own API process: its lockouts must not touch the shared one
TICKET = {"subject": "s", "description": "d", "customer_id": "auth-abuse"}


@pytest.fixture(scope="module")
def strict_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """An API with a small failure limit and an hour-long key cache (revocation must beat it)."""
    env = {"TRIAGE_AUTH_FAILURE_LIMIT": "10/minute", "TRIAGE_API_KEY_CACHE_S": "3600"}
    directory = tmp_path_factory.mktemp("auth-abuse")
    with start_live_api(directory, extra_env=env, redis_db=AUTH_REDIS_DB) as api:
        yield api


def triage(api: LiveApi, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `triage` command against the same database and Redis as the API."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "triage_cli", *args],
        env={**os.environ, **api.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture(autouse=True)
def forget_failures(strict_api: LiveApi) -> None:
    """Each case starts with no failures counted for 127.0.0.1 (every case comes from it)."""
    import redis

    client = redis.Redis.from_url(strict_api.redis_url)
    for name in client.scan_iter(match="*auth-failures*"):
        client.delete(name)


def well_formed_guess() -> str:
    return f"tt_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def test_a_revoked_key_is_refused_by_every_process_at_once(strict_api: LiveApi) -> None:
    key = triage(strict_api, "keys", "create", "short-lived", "--role", "producer").stdout.strip()
    # New connections each time: the requests spread over both gunicorn workers, and each
    # caches the key for an hour.
    for _ in range(20):
        answer = httpx.post(
            f"{strict_api.base_url}/tickets",
            json=TICKET,
            headers={"X-API-Key": key, "Connection": "close"},
        )
        assert answer.status_code == 202, answer.text
    done = triage(strict_api, "keys", "revoke", "short-lived")
    assert "every API process refuses it from now on" in done.stdout
    codes = {
        httpx.get(
            f"{strict_api.base_url}/tickets",
            headers={"X-API-Key": key, "Connection": "close"},
        ).status_code
        for _ in range(8)  # under the failure limit: each refusal counts as a failure
    }
    assert codes == {401}  # before: 202 for up to TRIAGE_API_KEY_CACHE_S on some workers


def test_a_key_created_while_the_api_runs_works_at_once(strict_api: LiveApi) -> None:
    key = triage(strict_api, "keys", "create", "fresh", "--role", "reader").stdout.strip()
    headers = {"X-API-Key": key, "Connection": "close"}
    assert {httpx.get(f"{strict_api.base_url}/tickets", headers=headers).status_code} == {200}


def test_guessing_keys_is_rate_limited_per_address_with_json(strict_api: LiveApi) -> None:
    with httpx.Client(base_url=strict_api.base_url, timeout=10) as client:
        codes = []
        for i in range(14):
            headers = (
                {"X-API-Key": well_formed_guess()}
                if i % 2
                else {"Authorization": f"Bearer {well_formed_guess()}"}
            )
            codes.append(client.post("/tickets", json=TICKET, headers=headers))
        assert [a.status_code for a in codes[:10]] == [401] * 10
        refused = codes[10:]
        assert {a.status_code for a in refused} == {429}
        for answer in refused:
            assert answer.headers["content-type"] == "application/json"
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
            assert answer.json()["error"]["code"] == "rate_limited"
        # the address is locked out: the admin key from here waits too, and says so
        locked = client.get("/tickets", headers={"X-API-Key": strict_api.admin_key})
        assert locked.status_code == 429
        assert client.get("/healthz").status_code == 200  # unauthenticated routes still answer
    assert "Traceback" not in Path(strict_api.log_path).read_text()
