"""What a producer may submit, how repeats are recognised, and what a stored ticket says."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pipeline.domain.classification import Sentiment, Urgency
from pipeline.domain.models import TicketSubmission, identity_key, payload_fingerprint
from pipeline.store.memory import InMemoryTicketRepository
from tests.conftest import submit
from tests.support.tickets import force

OK = {"subject": "s", "description": "d", "customer_id": "c"}


def valid(**fields: object) -> TicketSubmission:
    return TicketSubmission.model_validate({**OK, **fields})


@pytest.mark.parametrize("name", ["subject", "description", "customer_id"])
def test_text_fields_need_a_visible_character(name: str) -> None:
    assert getattr(valid(**{name: "x"}), name) == "x"  # one character is enough
    assert getattr(valid(**{name: "  x \n"}), name) == "x"  # stored without its whitespace
    for bad in ("", "   ", "\n\t", "a\x00b"):
        with pytest.raises(ValidationError):
            valid(**{name: bad})


def test_text_fields_have_their_limits() -> None:
    valid(subject="s" * 1000, customer_id="c" * 128)
    with pytest.raises(ValidationError):
        valid(subject="s" * 1001)
    with pytest.raises(ValidationError):
        valid(customer_id="c" * 129)
    schema = TicketSubmission.model_json_schema()["properties"]
    assert schema["subject"]["minLength"] == 1 and schema["subject"]["maxLength"] == 1000
    assert schema["subject"]["pattern"] == r"\S"


def test_reserved_external_ids_are_refused() -> None:
    for reserved in ("sha256:abc", "webhook-id:1", "idempotency-key:k"):
        with pytest.raises(ValidationError, match="must not start with"):
            valid(external_id=reserved)
    assert valid(external_id=" zd-1 ").external_id == "zd-1"


def test_created_at_is_rfc3339_and_kept_in_utc() -> None:
    assert valid(created_at="2026-01-02T03:04:05").created_at == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert valid(created_at="2026-01-02T03:04:05+02:00").created_at == datetime(
        2026, 1, 2, 1, 4, 5, tzinfo=UTC
    )
    given = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-1)))
    assert valid(created_at=given).created_at == datetime(2026, 1, 2, 4, 4, 5, tzinfo=UTC)
    for bad in ("yesterday", "2026-01-02", 1767323045, "9999-12-31T23:59:59-23:59"):
        with pytest.raises(ValidationError):
            valid(created_at=bad)


def test_extra_fields_are_kept_as_metadata_unless_they_hold_nul() -> None:
    assert valid(shop={"locale": "de", "tags": ["a"]}).metadata() == {
        "shop": {"locale": "de", "tags": ["a"]}
    }
    assert valid().metadata() == {}
    for bad in ({"x": "a\x00"}, {"x": {"k\x00": 1}}, {"x": ["ok", ["\x00"]]}, {"x\x00": 1}):
        with pytest.raises(ValidationError, match="NUL"):
            valid(**bad)


def test_a_repeat_is_known_by_the_strongest_key_there_is() -> None:
    assert identity_key(external_id="e", signed_id="s", header_key="h", fingerprint="f") == "e"
    assert identity_key(external_id=None, signed_id="s", header_key="h") == "webhook-id:s"
    assert identity_key(external_id=None, header_key="h", fingerprint="f") == "idempotency-key:h"
    assert identity_key(external_id=None, fingerprint="f") == "sha256:f"
    assert identity_key(external_id=None) is None


def test_equal_bodies_have_equal_fingerprints() -> None:
    one = payload_fingerprint({"b": 1, "a": "ü"})
    assert one == payload_fingerprint({"a": "ü", "b": 1})
    canonical = '{"a":"ü","b":1}'.encode()
    assert one == hashlib.sha256(canonical).hexdigest()
    assert one != payload_fingerprint({"a": "u", "b": 1})


def test_a_stored_ticket_reads_back_its_decision_and_text() -> None:
    store = InMemoryTicketRepository()
    ticket_id = submit(store, subject="Invoice", description="charged twice")
    ticket = store.get(ticket_id)
    assert ticket.classification() is None
    text = ticket.text()
    assert (text.id, text.subject, text.description) == (ticket_id, "Invoice", "charged twice")
    force(store, ticket_id, category="billing", confidence=0.7)
    bare = store.get(ticket_id).classification()
    assert bare is not None
    assert (bare.urgency, bare.language, bare.sentiment, bare.reason) == (
        Urgency.normal,
        "und",
        Sentiment.neutral,
        "",
    )
    assert (bare.classifier, bare.model) == ("unknown", "unknown")
    force(
        store,
        ticket_id,
        urgency="high",
        language="de",
        sentiment="negative",
        reason="r",
        classifier="local",
        model="m1",
        urgency_confidence=0.4,
        sentiment_confidence=0.6,
    )
    full = store.get(ticket_id).classification()
    assert full is not None
    assert (full.category, full.confidence, full.urgency, full.language) == (
        "billing",
        0.7,
        Urgency.high,
        "de",
    )
    assert (full.sentiment, full.reason, full.classifier, full.model) == (
        Sentiment.negative,
        "r",
        "local",
        "m1",
    )
    assert (full.urgency_confidence, full.sentiment_confidence) == (0.4, 0.6)
    force(store, ticket_id, confidence=None)
    assert store.get(ticket_id).classification() is None
