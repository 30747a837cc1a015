"""The summary: a compact table for the terminal and the generated block of BENCHMARKS.md."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT

BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


@dataclass
class Table:
    """One benchmark's figures, its ratios against the baselines, and notes."""

    title: str
    header: list[str]
    rows: list[list[str]]
    ratio_header: list[str] = field(default_factory=list)
    ratio_rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _f(value: Any, digits: int = 1) -> str:
    """A number for a table cell; '-' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.{digits}f}"
    return str(value)


def _x(value: Any) -> str:
    """A ratio: 0.26x."""
    return "-" if value is None else f"{value:.2f}x"


def _met(flag: Any) -> str:
    return "-" if flag is None else ("met" if flag else "MISSED")


def _ingest(s: dict[str, Any]) -> Table:
    rows = [
        [
            name,
            _f(r["rps"], 0),
            _f(r["p50_ms"]),
            _f(r["p99_ms"]),
            _f(r.get("server_cpu_ms_per_request"), 2),
            str(r["errors"]),
            " / ".join(_f(x, 0) for x in r.get("rps_all_rounds", [])),
        ]
        for name, r in s["results"].items()
    ]
    r = s["ratios"]
    ratio_rows = [
        [name, _x(r[f"rps_vs_{name}"]), _x(r[f"p50_vs_{name}"]), _x(r[f"p99_vs_{name}"])]
        for name in ("bare", "minimal")
    ]
    ratio_rows[0] += ["-", "-", "-"]
    ratio_rows[1] += [
        _x(r["cpu_per_request_vs_minimal"]),
        "req/s >= 1.0x, p99 <= 1.5x",
        _met(s["targets"]["met"]),
    ]
    return Table(
        "Ingest: POST /tickets",
        ["ingest", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "errors", "req/s by round"],
        rows,
        ["ours over", "req/s", "p50", "p99", "CPU/req", "target", "met"],
        ratio_rows,
        [f"{s['settings']['gunicorn']}; {s['settings']['load']}"],
    )


def _pipeline(s: dict[str, Any]) -> Table:
    settings = s["settings"]
    rows = [
        [
            name,
            "none" if name == "bare" else key,
            _f(r["burst"]["tickets_per_s"]),
            _f(r["burst"]["worker_cpu_ms_per_ticket"]),
            _f(r["latency"]["p50_ms"], 0),
            _f(r["latency"]["p95_ms"], 0),
            _f(r["latency"]["rate_per_s"]),
        ]
        for name, by_latency in s["results"].items()
        for key, r in by_latency.items()
        if isinstance(r, dict) and "burst" in r
    ]
    ratio_rows = [
        [
            key,
            _x(r["tickets_per_s_vs_minimal"]),
            _x(r["tickets_per_s_vs_bare"]),
            _x(r["p50_vs_minimal"]),
            _x(r["p95_vs_minimal"]),
            ">= 0.8x minimal",
            _met(s["targets"]["met"].get(key)),
        ]
        for key, r in s["ratios"].items()
    ]
    return Table(
        "Pipeline: ingest to final state",
        ["pipeline", "LLM", "tickets/s", "worker CPU ms/ticket", "p50 ms", "p95 ms", "paced at /s"],
        rows,
        [
            "LLM",
            "tickets/s vs minimal",
            "vs bare",
            "p50 vs minimal",
            "p95 vs minimal",
            "target",
            "met",
        ],
        ratio_rows,
        [f"pool {settings['pool']} x {settings['concurrency']}; {settings['method']}"],
    )


def _memory(s: dict[str, Any]) -> Table:
    rows = [[f"after {int(n):,} tickets", _f(v)] for n, v in s["rss_mb"].items()]
    curve = ", ".join(f"{_f(r)} @ {int(n):,}" for n, r in s.get("curve", [])[::4])
    return Table(
        "Memory: worker RSS",
        ["memory", "RSS MiB"],
        rows,
        ["growth", "per 1k tickets", "target", "met"],
        [
            [
                f"{_f(s['growth_pct'], 2)}%",
                f"{_f(s['growth_mb_per_1k_tickets'], 2)} MiB",
                f"flat: <= {s['targets']['max_growth_pct']}%",
                _met(s["targets"]["met"]),
            ]
        ],
        [
            f"{s['settings']['worker']}; fed at {_f(s['fed_tickets_per_s'])} tickets/s; "
            f"statuses {s['statuses']}",
            f"RSS along the way (MiB @ tickets): {curve}",
        ],
    )


def _backfill(s: dict[str, Any]) -> Table:
    idle, during, targets, job = s["idle"], s["during_backfill"], s["targets"], s["backfill"]
    rows = [
        [
            name,
            str(r["tickets"]),
            _f(r["rate_per_s"]),
            _f(r["p50_ms"], 0),
            _f(r["p95_ms"], 0),
            _f(r.get("max_ms"), 0),
        ]
        for name, r in (("idle", idle), ("during backfill", during))
    ]
    return Table(
        "Backfill: live latency while a backfill runs",
        ["live tickets", "tickets", "paced at /s", "p50 ms", "p95 ms", "max ms"],
        rows,
        ["p95 during / idle", "p95 during ms", "target", "met"],
        [
            [
                _x(s["ratios"]["p95_during_vs_idle"]),
                _f(during["p95_ms"], 0),
                f"{targets['rule']} = {_f(targets['p95_max_ms'], 0)} ms",
                _met(targets["met"]),
            ]
        ],
        [
            f"{s['settings']['workers']}; {s['settings']['live']}",
            f"backfill: {job['rows']:,} rows final in {_f(job['seconds'])} s "
            f"({_f(job['tickets_per_s'])} tickets/s); {job['final_when_live_run_ended']:,} "
            "of them final when the live run during it ended",
        ],
    )


def _classifier(s: dict[str, Any]) -> Table:
    latency = s.get("latency_ms", {})
    rows = [
        [
            name,
            _f(rate, 0),
            _f(latency.get(name, {}).get("p50"), 2),
            _f(latency.get(name, {}).get("p95"), 2),
        ]
        for name, rate in s.get("throughput_per_cpu_s", {}).items()
    ]
    notes = [f"source: {s.get('source')}"]
    notes += [
        f"accuracy {name}: {r['accuracy']} (labels {r['labels']}, n={r['test']})"
        for name, r in s.get("accuracy", {}).items()
    ]
    header = ["classifier", "tickets per CPU-s", "p50 ms", "p95 ms"]
    return Table("Classifier (local model, 1 thread)", header, rows, notes=notes)


MAKERS = {
    "ingest": _ingest,
    "pipeline": _pipeline,
    "memory": _memory,
    "backfill": _backfill,
    "classifier": _classifier,
}


def tables(results: dict[str, Any]) -> list[Table]:
    """A table for every benchmark present (shared by the terminal and the markdown)."""
    present = {name: results.get(name) for name in MAKERS}
    return [
        MAKERS[name](s)
        for name, s in present.items()
        if s and "error" not in s and (name != "classifier" or "latency_ms" in s)
    ]


def _errors(results: dict[str, Any]) -> list[str]:
    return [
        f"{name}: FAILED: {section['error']}"
        for name, section in results.items()
        if isinstance(section, dict) and "error" in section
    ]


def _text_grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in (header, *rows)
    ]


def _md_grid(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def text_table(results: dict[str, Any]) -> str:
    """The terminal summary: figures, then ratios, per benchmark."""
    m = results["machine"]
    lines = [
        "",
        f"== ticket-triage bench{' (quick)' if results.get('quick') else ''}: "
        f"{m['cpu_model']}, {m['cores']} cores, Python {m['python']}, {m['date']} ==",
    ]
    for table in tables(results):
        lines += ["", table.title, *_text_grid(table.header, table.rows)]
        if table.ratio_rows:
            lines += _text_grid(table.ratio_header, table.ratio_rows)
        lines += [f"  - {note}" for note in table.notes]
    return "\n".join([*lines, "", *_errors(results)])


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
    for table in tables(results):
        lines += ["", f"### {table.title}", "", *_md_grid(table.header, table.rows)]
        if table.ratio_rows:
            lines += ["", *_md_grid(table.ratio_header, table.ratio_rows)]
        lines += ["", *(f"- {note}" for note in table.notes)]
    errors = _errors(results)
    if errors:
        lines += ["", *(f"- {e}" for e in errors)]
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
