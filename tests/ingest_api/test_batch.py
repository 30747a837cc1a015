"""POST /tickets/batch: bulk, idempotent, per-item outcomes, backfill queue, no delivery."""

from __future__ import annotations

from celery import Celery
from flask.testing import FlaskClient

from pipeline.store.tickets import TicketStore
from tests.support.broker import drain_queue


def item(i: int, **extra: object) -> dict[str, object]:
    return {
        "external_id": f"H-{i}",
        "subject": f"s{i}",
        "description": "old ticket",
        "customer_id": "c",
        **extra,
    }


def test_batch_stores_queues_and_reports_each_item(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    body = {"tickets": [item(1, category="refund"), {"subject": "no description"}, item(2)]}
    response = client.post("/tickets/batch", json=body)

    assert response.status_code == 202
    result = response.get_json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (2, 0, 1)
    assert [r["status"] for r in result["results"]] == ["accepted", "rejected", "accepted"]
    assert "description" in result["results"][1]["error"]
    ticket = store.get(result["results"][0]["id"])
    assert (ticket.queue, ticket.deliver, ticket.known_category) == ("backfill", False, "refund")
    [group] = drain_queue(celery_app, "backfill")
    assert group.task == "triage.classify_group"
    assert sorted(group.args[0]) == sorted([result["results"][0]["id"], result["results"][2]["id"]])
    assert drain_queue(celery_app, "live") == []


def test_batch_repeat_reports_duplicates_with_their_ids(
    client: FlaskClient, celery_app: Celery
) -> None:
    first = client.post("/tickets/batch", json={"tickets": [item(1), item(2)]}).get_json()
    drain_queue(celery_app, "backfill")
    again = client.post("/tickets/batch", json={"tickets": [item(2), item(3)]}).get_json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "accepted"]
    assert again["results"][0]["id"] == first["results"][1]["id"]
    [group] = drain_queue(celery_app, "backfill")
    assert group.args[0] == [again["results"][1]["id"]]


def test_batch_size_is_limited(client: FlaskClient) -> None:
    response = client.post("/tickets/batch", json={"tickets": [item(i) for i in range(501)]})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "tickets"
