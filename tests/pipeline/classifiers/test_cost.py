"""Cost of each LLM call: in its audit detail, in the metrics, in the monthly ledger; the cap."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_spend import MemorySpendLedger
from pipeline.classifiers.cost import CostMeter
from pipeline.classifiers.llm import LLMClassifier
from pipeline.classifiers.scripted import ScriptedTransport
from pipeline.domain.classification import TicketText
from pipeline.domain.errors import LLMQuotaExhausted
from pipeline.domain.pricing import ModelPrice, price_table
from pipeline.testing.gemini_responses import classification_json
from tests.pipeline.classifiers.test_llm import CATEGORIES, Budget

# $1 per 1M in, $10 per 1M out: ScriptedTransport reports 321 in, 42 out = $0.000741.
PRICES = price_table({"m-1": ModelPrice(1.0, 10.0)})
CALL_USD = (321 * 1.0 + 42 * 10.0) / 1e6


def ticket(n: int) -> TicketText:
    return TicketText(id=f"t{n}", subject=f"Charged twice {n}", description="refund please")


def make(meter: CostMeter, model: str = "m-1") -> tuple[LLMClassifier, ScriptedTransport]:
    transport = ScriptedTransport(default=classification_json("billing"))
    llm = LLMClassifier(
        transport,
        CATEGORIES,
        model=model,
        budget=Budget(),
        cache=InMemoryDecisionCache(60),
        meter=meter,
    )
    return llm, transport


def cost_metric(model: str, queue: str) -> float:
    labels = {"provider": "scripted-llm", "model": model, "queue": queue}
    return REGISTRY.get_sample_value("triage_llm_cost_total", labels) or 0.0


def test_each_call_has_its_cost_in_the_audit_the_metric_and_the_ledger() -> None:
    ledger = MemorySpendLedger()
    llm, _ = make(CostMeter(PRICES, ledger))
    before = cost_metric("m-1", "backfill")

    audit = llm.classify_with_details(ticket(1), queue="backfill").as_audit()

    assert audit["cost_usd"] == pytest.approx(CALL_USD)
    assert cost_metric("m-1", "backfill") - before == pytest.approx(CALL_USD)
    assert ledger.month_to_date() == pytest.approx(CALL_USD)
    # A cache hit costs nothing and is charged nowhere.
    again = llm.classify_with_details(ticket(1), queue="backfill").as_audit()
    assert again["cache_hit"] is True and again["cost_usd"] is None
    assert ledger.month_to_date() == pytest.approx(CALL_USD)


def test_an_unknown_model_costs_null_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    llm, _ = make(CostMeter(PRICES, MemorySpendLedger()), model="my-own-llama")
    with caplog.at_level(logging.WARNING, logger="pipeline.classifiers.cost"):
        first = llm.classify_with_details(ticket(1)).as_audit()
        second = llm.classify_with_details(ticket(2)).as_audit()
    assert first["cost_usd"] is None and second["cost_usd"] is None
    warnings = [r for r in caplog.records if "my-own-llama" in r.getMessage()]
    assert len(warnings) == 1 and "TRIAGE_LLM_PRICES" in warnings[0].getMessage()


def test_past_the_monthly_cap_no_request_is_sent() -> None:
    ledger = MemorySpendLedger(seed=lambda _start: 9.99)
    llm, transport = make(CostMeter(PRICES, ledger, monthly_budget=10.0))

    llm.classify_with_details(ticket(1))  # under the cap: sent, and now past it
    ledger.add(0.01)
    with pytest.raises(LLMQuotaExhausted, match="monthly budget reached") as caught:
        llm.classify_with_details(ticket(2))

    assert len(transport.sent) == 1
    assert caught.value.max_retries == 0  # no retry: straight down the fallback chain
    assert llm.last_call is not None and llm.last_call.error == "monthly budget reached"


def test_no_cap_never_asks_the_ledger_to_refuse() -> None:
    meter = CostMeter(PRICES, MemorySpendLedger(seed=lambda _start: 1e9))
    meter.check_budget()
    assert meter.monthly().reached is False


def group_reply(request: object) -> str:
    contents = getattr(request, "contents", "")
    ids = [part.split('"')[0] for part in contents.split('<ticket id="')[1:]]
    items = [json.loads(classification_json("billing")) | {"id": i} for i in ids]
    return json.dumps({"results": items})


def test_a_grouped_call_gives_each_ticket_its_share_of_the_cost() -> None:
    ledger = MemorySpendLedger()
    llm, transport = make(CostMeter(PRICES, ledger))
    transport.default = group_reply

    result = llm.classify_group([ticket(1), ticket(2)], queue="backfill")

    assert len(result.decisions) == 2
    audit = result.as_audit("t1")
    assert audit["group_cost_usd"] == pytest.approx(CALL_USD)
    assert audit["cost_usd"] == pytest.approx(CALL_USD / 2)
    assert ledger.month_to_date() == pytest.approx(CALL_USD)
