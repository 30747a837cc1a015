"""Issue 21's verdict lines: worker and ingest from a run's sections, others registered."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report, targets
from bench.report import Target, register_target


def pipeline_section(rate: dict[str, float], cpu: dict[str, tuple[float, float]]) -> Any:
    """A pipeline section with these tickets/s ratios and (ours, minimal) CPU ms per ticket."""
    burst = {
        name: {k: {"burst": {"worker_cpu_ms_per_ticket": c[i]}} for k, c in cpu.items()}
        for i, name in enumerate(("ours", "minimal"))
    }
    ratios = {k: {"tickets_per_s_vs_minimal": v} for k, v in rate.items()}
    return {"results": burst, "ratios": ratios}


@pytest.mark.parametrize(
    ("rate", "cpu", "verdict"),
    [
        ({"0ms": 0.8, "200ms": 0.9}, {"0ms": (7.5, 5.0), "200ms": (7.0, 5.0)}, "met"),
        ({"0ms": 0.79, "200ms": 0.9}, {"0ms": (7.0, 5.0), "200ms": (7.0, 5.0)}, "not met"),
        ({"0ms": 0.9, "200ms": 0.9}, {"0ms": (7.6, 5.0), "200ms": (7.0, 5.0)}, "not met"),
    ],
)
def test_worker_needs_both_rates_and_the_cpu_ratio(
    rate: dict[str, float], cpu: dict[str, tuple[float, float]], verdict: str
) -> None:
    (target,) = targets.evaluate({"pipeline": pipeline_section(rate, cpu)})

    assert target.name == "worker" and target.verdict() == verdict


def test_ingest_verdict_and_absent_sections() -> None:
    ingest = {"ratios": {"rps_vs_minimal": 1.02, "p99_vs_minimal": 1.6}}

    assert [t.verdict() for t in targets.evaluate({"ingest": ingest})] == ["not met"]
    ingest["ratios"]["p99_vs_minimal"] = 1.5
    assert targets.lines({"ingest": ingest}) == [
        "ingest: met (1.02x req/s, 1.50x p99 (req/s >= 1.0x, p99 <= 1.5x minimal))"
    ]
    assert targets.evaluate({"pipeline": {"error": "worker exited"}}) == []


def test_a_registered_target_prints_in_the_issues_order(monkeypatch: pytest.MonkeyPatch) -> None:
    own = {"worker": targets.worker_target, "ingest": targets.ingest_target}
    monkeypatch.setattr(targets, "RULES", own)
    monkeypatch.setattr(targets, "RULE_MODULES", ())  # only the rule registered here

    @register_target("backfill")
    def backfill(results: dict[str, Any]) -> Target | None:
        return Target("backfill", False, "950 tickets/s") if "backfill" in results else None

    ingest = {"ratios": {"rps_vs_minimal": 1.1, "p99_vs_minimal": 1.2}}
    results = {"ingest": ingest, "backfill": {}}
    assert [t.name for t in targets.evaluate(results)] == ["ingest", "backfill"]
    assert "backfill: not met (950 tickets/s)" in report.target_lines(results)
