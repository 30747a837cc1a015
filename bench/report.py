"""The summary: one set of tables, for the terminal and for BENCHMARKS.md's generated block."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import targets as _targets
from bench.common import ROOT
from bench.targets import Target, evaluate, register_target

__all__ = ["Target", "evaluate", "register_target"]  # the targets' registry, re-exported

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
Grid = tuple[list[str], list[list[str]]]  # header, rows
Table = tuple[str, list[Grid], list[str]]  # title, grids (figures, then ratios), notes
BASELINES = ("bare", "minimal")


def f(value: Any, digits: int = 1) -> str:
    """A number for a table cell; '-' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.{digits}f}"
    return str(value)


def x(value: Any) -> str:
    """A ratio: 0.26x."""
    return "-" if value is None else f"{value:.2f}x"


def met(flag: Any) -> str:
    """A target's verdict."""
    return "-" if flag is None else ("met" if flag else "MISSED")


def cells(record: dict[str, Any], *spec: tuple[str, int]) -> list[str]:
    """The cells of one row: (key, digits; -1 for str) each; a dotted key reads a nested dict."""
    out = []
    for key, digits in spec:
        value: Any = record
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out.append(str(value) if digits < 0 else f(value, digits))
    return out


def ingest(s: dict[str, Any]) -> Table:
    """POST /tickets: each system's median round, ours over each baseline."""
    spec = [("rps", 0), ("p50_ms", 1), ("p99_ms", 1), ("server_cpu_ms_per_request", 2)]
    rows = [
        [n, *cells(r, *spec, ("errors", -1)), " / ".join(f(v, 0) for v in r["rps_all_rounds"])]
        for n, r in s["results"].items()
    ]
    r = s["ratios"]
    ratios = [
        [n, *(x(r[f"{k}_vs_{n}"]) for k in ("rps", "p50", "p99"))] for n in ("bare", "minimal")
    ]
    ratios[0] += ["-", "-", "-"]
    target = "req/s >= 1.0x, p99 <= 1.5x"
    ratios[1] += [x(r["cpu_per_request_vs_minimal"]), target, met(s["targets"]["met"])]
    head = ["ingest", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "errors", "req/s by round"]
    ratio_head = ["ours over", "req/s", "p50", "p99", "CPU/req", "target", "met"]
    notes = [f"{s['settings']['gunicorn']}; {s['settings']['load']}"]
    return "Ingest: POST /tickets", [(head, rows), (ratio_head, ratios)], notes


def pipeline(s: dict[str, Any]) -> Table:
    """Ingest to final state: burst and paced figures per LLM latency, ours over the baselines."""
    spec = [("burst.tickets_per_s", 1), ("burst.worker_cpu_ms_per_ticket", 1)]
    spec += [("latency.p50_ms", 0), ("latency.p95_ms", 0), ("latency.rate_per_s", 1)]
    rows = [
        [name, "none" if name == "bare" else key, *cells(r, *spec)]
        for name, by_latency in s["results"].items()
        for key, r in by_latency.items()
        if isinstance(r, dict) and "burst" in r
    ]
    keys = ("tickets_per_s_vs_minimal", "tickets_per_s_vs_bare", "p50_vs_minimal", "p95_vs_minimal")
    ratios = [
        [key, *(x(r[k]) for k in keys), ">= 0.8x minimal", met(s["targets"]["met"].get(key))]
        for key, r in s["ratios"].items()
    ]
    head = ["pipeline", "LLM", "tickets/s", "worker CPU ms/ticket", "p50 ms", "p95 ms"]
    ratio_head = ["LLM", "tickets/s vs minimal", "vs bare", "p50 vs minimal", "p95 vs minimal"]
    settings = s["settings"]
    notes = [f"pool {settings['pool']} x {settings['concurrency']}; {settings['method']}"]
    grids = [([*head, "paced at /s"], rows), ([*ratio_head, "target", "met"], ratios)]
    return "Pipeline: ingest to final state", grids, notes


def memory(s: dict[str, Any]) -> Table:
    """Worker RSS at the checkpoints and its growth."""
    rows = [[f"after {int(n):,} tickets", f(v)] for n, v in s["rss_mb"].items()]
    growth = [f"{f(s['growth_pct'], 2)}%", f"{f(s['growth_mb_per_1k_tickets'], 2)} MiB"]
    growth += [f"flat: <= {s['targets']['max_growth_pct']}%", met(s["targets"]["met"])]
    curve = ", ".join(f"{f(r)} @ {int(n):,}" for n, r in s.get("curve", [])[::4])
    notes = [
        f"{s['settings']['worker']}; fed at {f(s['fed_tickets_per_s'])} tickets/s; "
        f"statuses {s['statuses']}",
        f"RSS along the way (MiB @ tickets): {curve}",
    ]
    ratio_head = ["growth", "per 1k tickets", "target", "met"]
    grids = [(["memory", "RSS MiB"], rows), (ratio_head, [growth])]
    return "Memory: worker RSS", grids, notes


def backfill(s: dict[str, Any]) -> Table:
    """Live latency idle and during a backfill, against the target."""
    during, targets, job = s["during_backfill"], s["targets"], s["backfill"]
    spec = [("tickets", -1), ("rate_per_s", 1), ("p50_ms", 0), ("p95_ms", 0), ("max_ms", 0)]
    live = {"idle": s["idle"], "during backfill": during}
    rows = [[name, *cells(r, *spec)] for name, r in live.items()]
    verdict = [x(s["ratios"]["p95_during_vs_idle"]), f(during["p95_ms"], 0)]
    verdict += [f"{targets['rule']} = {f(targets['p95_max_ms'], 0)} ms", met(targets["met"])]
    notes = [
        f"{s['settings']['workers']}; {s['settings']['live']}",
        f"backfill: {job['rows']:,} rows final in {f(job['seconds'])} s "
        f"({f(job['tickets_per_s'])} tickets/s); {job['final_when_live_run_ended']:,} "
        "of them final when the live run during it ended",
    ]
    head = ["live tickets", "tickets", "paced at /s", "p50 ms", "p95 ms", "max ms"]
    ratio_head = ["p95 during / idle", "p95 during ms", "target", "met"]
    grids = [(head, rows), (ratio_head, [verdict])]
    return "Backfill: live latency while a backfill runs", grids, notes


def classifier(s: dict[str, Any]) -> Table:
    """The local model's rate and latency (and accuracy, when measured)."""
    latency = s.get("latency_ms", {})
    rows = [
        [name, f(rate, 0), *cells(latency.get(name, {}), ("p50", 2), ("p95", 2))]
        for name, rate in s.get("throughput_per_cpu_s", {}).items()
    ]
    notes = [f"source: {s.get('source')}"]
    notes += [
        f"accuracy {name}: {r['accuracy']} (labels {r['labels']}, n={r['test']})"
        for name, r in s.get("accuracy", {}).items()
    ]
    head = ["classifier", "tickets per CPU-s", "p50 ms", "p95 ms"]
    return "Classifier (local model, 1 thread)", [(head, rows)], notes


SECTIONS: dict[str, Callable[[dict[str, Any]], Table]] = {
    "ingest": ingest, "pipeline": pipeline, "memory": memory, "backfill": backfill,
    "classifier": classifier,
}  # fmt: skip


def tables(results: dict[str, Any]) -> list[Table]:
    """A table for every benchmark present (shared by the terminal and the markdown)."""
    return [
        make(s)
        for name, make in SECTIONS.items()
        if (s := results.get(name)) and "error" not in s
        and (name != "classifier" or "latency_ms" in s)
    ]  # fmt: skip


def errors(results: dict[str, Any]) -> list[str]:
    """One line per failed benchmark."""
    return [
        f"{name}: FAILED: {section['error']}"
        for name, section in results.items()
        if isinstance(section, dict) and "error" in section
    ]


QUICK_NOTE = " - quick run, figures not comparable"


def target_lines(results: dict[str, Any]) -> list[str]:
    """One "name: met / not met (figures)" line per registered target the run measured."""
    return _targets.lines(results)


def text_grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell, indented."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=False)]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in (header, *rows)
    ]


def md_grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def text_table(results: dict[str, Any]) -> str:
    """The terminal summary: figures, then ratios, per benchmark."""
    m = results["machine"]
    lines = [
        "",
        f"== ticket-triage bench{' (quick)' if results.get('quick') else ''}: "
        f"{m['cpu_model']}, {m['cores']} cores, Python {m['python']}, {m['date']} ==",
    ]
    for title, grids, notes in tables(results):
        lines += ["", title]
        for header, rows in grids:
            lines += text_grid(header, rows)
        lines += [f"  - {note}" for note in notes]
    lines += ["", f"Targets (issue 21){QUICK_NOTE if results.get('quick') else ''}:"]
    lines += [f"  {line}" for line in target_lines(results)]
    return "\n".join([*lines, "", *errors(results)])


def earlier_sections(results: dict[str, Any]) -> str:
    """The sections a one-section run merged in from before: name, date and command each."""
    date = results["machine"]["date"]
    kept = [
        f"{name} ({section['measured']['date']}, `{section['measured']['command']}`)"
        for name, section in results.items()
        if isinstance(section, dict)
        and isinstance(section.get("measured"), dict)
        and section["measured"].get("date") != date
    ]
    return "; ".join(kept)


def markdown(results: dict[str, Any]) -> str:
    """The generated block of BENCHMARKS.md: machine, command, figures, ratios, targets."""
    m = results["machine"]
    source = m.get("source") or {}
    commit = (source.get("commit") or "unknown")[:10]
    if source.get("modified_files"):
        commit += f" with {source['modified_files']} modified files"
    lines = [
        BEGIN,
        "<!-- Generated by `python -m bench`; edit the prose outside this block. -->",
        "",
        f"Measured {m['date']} at commit {commit} with `{m['command']}` on {m['cpu_model']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"PostgreSQL {m['servers']['postgresql']}, Redis {m['servers']['redis']}. "
        f"Load average at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}: the machine is shared, other jobs ran beside the bench.",
    ]
    if kept := earlier_sections(results):
        lines += ["", "Kept from earlier runs (not measured by that command): " + kept + "."]
    for title, grids, notes in tables(results):
        lines += ["", f"### {title}"]
        for header, rows in grids:
            lines += ["", *md_grid(header, rows)]
        lines += ["", *(f"- {note}" for note in notes)]
    if verdicts := target_lines(results):
        lines += ["", "### Targets (issue 21)", "", *(f"- {v}" for v in verdicts)]
    if failed := errors(results):
        lines += ["", *(f"- {e}" for e in failed)]
    return "\n".join([*lines, "", END])


def update_benchmarks_md(results: dict[str, Any], path: Path | None = None) -> None:
    """Replace the generated block of BENCHMARKS.md (the prose around it stays)."""
    path = path or BENCHMARKS_MD
    block = markdown(results)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n") + block + "\n"
    path.write_text(text, encoding="utf-8")
