"""Issue 21's targets: one verdict line each ("met" / "not met") from a run's results.

A rule reads the results dict (every section a run measured or merged from results.json) and
returns a `Target`, or None when its section is absent. Rules register with `register_target`
at import time; `RULE_MODULES` lists the modules outside this one that register rules, imported
when verdicts are computed (so `python -m bench pipeline` still reports the backfill's verdict
merged from an earlier run).

    from bench.report import Target, register_target

    @register_target("backfill")
    def backfill_target(results: dict[str, Any]) -> Target | None: ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """One target's verdict: `met` is None when the run did not measure it."""

    name: str
    met: bool | None
    detail: str

    def verdict(self) -> str:
        """'met', 'not met' or 'not measured'."""
        return "not measured" if self.met is None else ("met" if self.met else "not met")


Rule = Callable[[dict[str, Any]], "Target | None"]
RULES: dict[str, Rule] = {}
ORDER = ("worker", "ingest", "backfill", "live beside history")  # the order
RULE_MODULES = ("bench.backfill",)  # modules that register rules of their own

WORKER_TICKETS_PER_S_MIN = 0.8  # x the minimal chain, at every LLM latency
WORKER_CPU_MAX = 1.5  # x the minimal chain's worker CPU per ticket
INGEST_RPS_MIN, INGEST_P99_MAX = 1.0, 1.5  # x the minimal endpoint


def register_target(name: str) -> Callable[[Rule], Rule]:
    """Decorator: `rule` decides target `name` (a later registration replaces an earlier one)."""

    def add(rule: Rule) -> Rule:
        RULES[name] = rule
        return rule

    return add


def evaluate(results: dict[str, Any]) -> list[Target]:
    """Every registered target that the results hold a section for, in the issue's order."""
    for module in RULE_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # a module that cannot load here registers nothing
            continue
    names = sorted(RULES, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [t for n in names if (t := RULES[n](results)) is not None]


def _section(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = results.get(name)
    return section if isinstance(section, dict) and "error" not in section else None


@register_target("worker")
def worker_target(results: dict[str, Any]) -> Target | None:
    """Tickets/s >= 0.8x minimal at every LLM latency; worker CPU/ticket <= 1.5x minimal."""
    s = _section(results, "pipeline")
    if s is None:
        return None
    parts, ok = [], True
    for key, r in s["ratios"].items():
        rate = r.get("tickets_per_s_vs_minimal")
        ours = s["results"]["ours"][key]["burst"].get("worker_cpu_ms_per_ticket")
        base = s["results"]["minimal"][key]["burst"].get("worker_cpu_ms_per_ticket")
        cpu = round(ours / base, 2) if ours and base else None
        ok &= rate is not None and rate >= WORKER_TICKETS_PER_S_MIN
        ok &= cpu is not None and cpu <= WORKER_CPU_MAX
        parts.append(f"{key}: {_x(rate)} tickets/s, {_x(cpu)} CPU/ticket")
    rule = f"tickets/s >= {WORKER_TICKETS_PER_S_MIN}x, CPU/ticket <= {WORKER_CPU_MAX}x minimal"
    return Target("worker", ok, f"{'; '.join(parts)} ({rule})")


@register_target("ingest")
def ingest_target(results: dict[str, Any]) -> Target | None:
    """Req/s >= 1.0x the minimal endpoint, p99 <= 1.5x its p99."""
    s = _section(results, "ingest")
    if s is None:
        return None
    rps, p99 = s["ratios"].get("rps_vs_minimal"), s["ratios"].get("p99_vs_minimal")
    ok = rps is not None and rps >= INGEST_RPS_MIN and p99 is not None and p99 <= INGEST_P99_MAX
    rule = f"req/s >= {INGEST_RPS_MIN}x, p99 <= {INGEST_P99_MAX}x minimal"
    return Target("ingest", ok, f"{_x(rps)} req/s, {_x(p99)} p99 ({rule})")


def lines(results: dict[str, Any]) -> list[str]:
    """One line per target: `worker: met (...)`."""
    return [f"{t.name}: {t.verdict()} ({t.detail})" for t in evaluate(results)]


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
