"""Classes 4 and 7: a ticket's identity (signed id, external_id) and batch conflicts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from pipeline.domain.models import payload_fingerprint
from pipeline.domain.operator import Role
from tests.security.attack import (
    SIGNING_SOURCE,
    dumps,
    mint_key,
    raw_post,
    signed,
    signing_api,
    ticket,
)
from tests.security.conftest import LiveApi

__all__ = ["signing_api"]  # the module-scoped fixture


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def get(api: LiveApi, ticket_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api.base_url}/tickets/{ticket_id}", headers={"X-API-Key": api.admin_key}, timeout=30
    )
    assert response.status_code == 200
    return dict(response.json())


# --- class 4: on a signed request the signed id is the identity ----------------------------


@pytest.fixture(scope="module")
def signer_key(signing_api: LiveApi) -> str:
    return mint_key(signing_api, "identity-signer", Role.producer, SIGNING_SOURCE)


@pytest.mark.parametrize("with_external_id", [False, True])
def test_replayed_signed_request_with_fresh_idempotency_keys_is_one_ticket(
    signing_api: LiveApi, signer_key: str, with_external_id: bool
) -> None:
    payload = ticket(external_id=unique("ext")) if with_external_id else ticket()
    body = dumps(payload)
    headers = signed(body, unique("msg"))
    first = raw_post(signing_api, "/tickets", body, signer_key, **headers)
    assert first.status_code == 202, first.text
    replays = [
        raw_post(signing_api, "/tickets", body, signer_key, **headers, **{"Idempotency-Key": k})
        for k in (unique("fresh"), unique("fresh"), "x")
    ]
    replays.append(raw_post(signing_api, "/tickets", body, signer_key, **headers))
    assert [r.status_code for r in replays] == [200] * 4
    assert {r.json()["id"] for r in replays} == {first.json()["id"]}


def test_signed_batch_replayed_is_all_duplicates(signing_api: LiveApi, signer_key: str) -> None:
    body = dumps({"tickets": [ticket(), ticket(external_id=unique("b"))]})
    headers = signed(body, unique("msg"))
    first = raw_post(signing_api, "/tickets/batch", body, signer_key, **headers).json()
    again = raw_post(
        signing_api, "/tickets/batch", body, signer_key, **headers, **{"Idempotency-Key": "new"}
    ).json()
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (2, 0, 2)


# --- class 4: a producer's external_id is its identity across keys -------------------------


@pytest.fixture(scope="module")
def key(live_api: LiveApi) -> str:
    """This module's own admin key: its own rate-limit budget on the shared process."""
    return mint_key(live_api, "identity-admin", Role.admin)


def test_same_external_id_with_new_idempotency_keys_is_the_same_ticket(
    live_api: LiveApi, key: str
) -> None:
    body = dumps(ticket(external_id=unique("ext")))
    first = raw_post(live_api, "/tickets", body, key, **{"Idempotency-Key": unique("k")})
    assert first.status_code == 202
    for headers in ({"Idempotency-Key": unique("k")}, {"webhook-id": unique("w")}, {}):
        again = raw_post(live_api, "/tickets", body, key, **headers)
        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])


def test_same_external_id_with_another_body_is_409_whatever_the_key(
    live_api: LiveApi, key: str
) -> None:
    external_id = unique("ext")
    first = raw_post(live_api, "/tickets", dumps(ticket(external_id=external_id)), key)
    assert first.status_code == 202
    other = dumps(ticket(external_id=external_id, subject="something else"))
    for headers in ({"Idempotency-Key": unique("k")}, {}):
        response = raw_post(live_api, "/tickets", other, key, **headers)
        assert response.status_code == 409
        assert response.json()["error"]["details"]["ticket_id"] == first.json()["id"]
    assert get(live_api, first.json()["id"])["subject"] == "printer on fire"


def test_batch_items_and_live_keys_do_not_share_a_key_space(live_api: LiveApi, key: str) -> None:
    shared = unique("same")
    batch = raw_post(
        live_api, "/tickets/batch", dumps({"tickets": [ticket(external_id=shared)]}), key
    ).json()
    live = raw_post(
        live_api, "/tickets", dumps(ticket(subject="live")), key, **{"Idempotency-Key": shared}
    )
    assert live.status_code == 202, live.text
    assert live.json()["id"] != batch["results"][0]["id"]


def test_a_header_key_cannot_hit_a_batch_content_key(live_api: LiveApi, key: str) -> None:
    item = ticket(subject=unique("content"))
    batch = raw_post(live_api, "/tickets/batch", dumps({"tickets": [item]}), key).json()
    forged = f"sha256:{payload_fingerprint(item)}"
    live = raw_post(
        live_api, "/tickets", dumps(ticket(subject="x")), key, **{"Idempotency-Key": forged}
    )
    assert live.status_code == 202, live.text
    assert live.json()["id"] != batch["results"][0]["id"]


@pytest.mark.parametrize("external_id", ["sha256:abc", "webhook-id:m", "idempotency-key:k"])
def test_external_ids_may_not_use_derived_prefixes(
    live_api: LiveApi, key: str, external_id: str
) -> None:
    response = raw_post(live_api, "/tickets", dumps(ticket(external_id=external_id)), key)
    assert response.status_code == 422


# --- class 7: a batch item with a known external_id and other content is a conflict ---------


def test_batch_item_with_known_external_id_and_other_body_is_a_conflict(
    live_api: LiveApi, key: str
) -> None:
    external_id = unique("H")
    first = raw_post(
        live_api, "/tickets/batch", dumps({"tickets": [ticket(external_id=external_id)]}), key
    ).json()
    stored_id = first["results"][0]["id"]
    changed = ticket(external_id=external_id, description="new content")
    again = raw_post(live_api, "/tickets/batch", dumps({"tickets": [changed]}), key).json()
    [result] = again["results"]
    assert (result["status"], result["id"]) == ("conflict", stored_id)
    assert (again["duplicates"], again["conflicts"]) == (0, 1)
    assert get(live_api, stored_id)["description"] == "it smokes"


def test_batch_item_conflicting_with_a_live_ticket(live_api: LiveApi, key: str) -> None:
    external_id = unique("L")
    live = raw_post(live_api, "/tickets", dumps(ticket(external_id=external_id)), key).json()
    items = [ticket(external_id=external_id), ticket(external_id=external_id, subject="edited")]
    result = raw_post(live_api, "/tickets/batch", dumps({"tickets": items}), key).json()
    assert [r["status"] for r in result["results"]] == ["duplicate", "conflict"]
    assert {r["id"] for r in result["results"]} == {live["id"]}


def test_two_items_of_one_batch_with_one_external_id_and_two_bodies(
    live_api: LiveApi, key: str
) -> None:
    external_id = unique("T")
    items = [ticket(external_id=external_id), ticket(external_id=external_id, priority="high")]
    result = raw_post(live_api, "/tickets/batch", dumps({"tickets": items}), key).json()
    assert [r["status"] for r in result["results"]] == ["accepted", "conflict"]
