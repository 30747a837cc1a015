"""The fallback chain in the classify stage: the next tier answers, the audit says who failed."""

from __future__ import annotations

import pytest

from pipeline.classifiers.fallback import FallbackChain, QueueClassifiers
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import LLMQuotaExhausted, LLMRejected, LLMUnavailable
from pipeline.domain.lifecycle import TicketStatus
from pipeline.ports import TicketRepository
from pipeline.stages.classify_fallback import classify_by_fallback
from tests.conftest import decision, submit


def tier(name: str, *script: BaseException, category: str = "billing") -> ScriptedClassifier:
    answer = decision(category).model_copy(update={"classifier": name, "model": f"{name}-m"})
    return ScriptedClassifier(default=answer, script=list(script), name=name)


def classified_detail(store: TicketRepository, ticket_id: str) -> dict[str, object]:
    [event] = [e for e in store.audit_trail(ticket_id) if e.event == "classified"]
    return event.detail


def test_the_next_provider_answers_and_the_audit_names_who_failed_before(
    store: TicketRepository,
) -> None:
    primary, broken = tier("gemini"), tier("anthropic", LLMRejected("401 invalid key"))
    openai = tier("openai", category="shipping")
    chain = FallbackChain({"live": primary}, [broken, openai], tier("local"))
    ticket_id = submit(store)

    outcome = classify_by_fallback(
        store, chain, ticket_id, error=LLMUnavailable("429"), attempt=3, review_reason="x"
    )

    ticket = store.get(ticket_id)
    assert ticket.status == TicketStatus.classified and ticket.category == "shipping"
    assert ticket.classifier == "openai" and "by openai" in outcome.summary()
    detail = classified_detail(store, ticket_id)
    assert detail["answered_by"] == "openai" and "fallback" not in detail
    assert detail["fallback_from"] == [
        {"provider": "gemini", "model": "scripted-1", "error": "LLMUnavailable: 429"},
        {"provider": "anthropic", "model": "scripted-1", "error": "LLMRejected: 401 invalid key"},
    ]


def test_local_is_the_last_resort_and_sends_the_ticket_to_review(
    store: TicketRepository,
) -> None:
    quota = LLMQuotaExhausted("monthly budget reached: $10.00 of $10.00")
    chain = FallbackChain({"live": tier("gemini")}, [tier("openai", quota)], tier("local"))
    ticket_id = submit(store)

    classify_by_fallback(
        store, chain, ticket_id, error=quota, attempt=1, review_reason="LLM quota exhausted"
    )

    detail = classified_detail(store, ticket_id)
    assert detail["answered_by"] == "local" and detail["fallback"] == "LLM quota exhausted"
    assert [f["provider"] for f in detail["fallback_from"]] == ["gemini", "openai"]
    assert all("monthly budget reached" in f["error"] for f in detail["fallback_from"])
    assert store.get(ticket_id).review_reason == "LLM quota exhausted"


def test_without_local_and_no_tier_left_the_primary_error_is_raised(
    store: TicketRepository,
) -> None:
    error = LLMUnavailable("503")
    chain = FallbackChain({"live": tier("gemini")}, [tier("openai", LLMUnavailable("x"))], None)
    ticket_id = submit(store)

    with pytest.raises(LLMUnavailable, match="503"):
        classify_by_fallback(store, chain, ticket_id, error=error, attempt=1, review_reason="r")
    assert store.get(ticket_id).status == TicketStatus.received


def test_each_queue_has_its_classifier_and_skips_its_own_provider_in_the_chain() -> None:
    live, backfill = tier("gemini"), tier("openai")
    by_queue = QueueClassifiers({"live": live, "backfill": backfill})
    chain = FallbackChain({"live": live, "backfill": backfill}, [tier("openai")], None)

    assert by_queue.for_queue("backfill") is backfill and by_queue.for_queue("live") is live
    assert by_queue.name == "gemini"
    assert [t.name for t in chain.tiers("live")] == ["openai"]
    assert chain.tiers("backfill") == []  # openai failed already: not asked twice
