"""The bench harness without running a bench: the backfill section, its report, the quick file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as harness
from bench import report
from bench.backfill import QUICK, backfill_section

IDLE = {"rate_per_s": 10.0, "tickets": 10, "p50_ms": 44.0, "p95_ms": 50.0, "max_ms": 52.0}


def live(p95_ms: float) -> dict[str, Any]:
    """A live run's figures with this p95."""
    return {**IDLE, "p50_ms": 60.0, "p95_ms": p95_ms, "max_ms": p95_ms + 1}


def job(seconds: float) -> dict[str, Any]:
    """A finished backfill's figures (HistoryRun.finish) for QUICK's 60 rows in `seconds`."""
    return {
        "rows": 60, "final": 60, "cli_exit": 0, "seconds_to_stored": 1.0,
        "seconds_to_final": seconds, "rows_per_s_stored": 60.0,
        "tickets_per_s_final": round(60 / seconds, 1), "llm_requests_per_ticket": 0.0,
        "worker_rss_mb": {"start": 200.0, "tenth_final": 210.0, "end": 210.5}, "met": False,
    }  # fmt: skip


def machine() -> dict[str, Any]:
    """What machine_info records, without asking git, PostgreSQL or Redis."""
    return {
        "cpu_model": "test cpu", "cores": 2, "memory_gib": 1.0, "python": "3.11",
        "date": "2026-01-01T00:00:00+00:00", "command": "python -m bench all --quick",
        "source": {"commit": "0123456789abcdef", "modified_files": 0},
        "load_average_at_start": [0.1, 0.1, 0.1],
        "servers": {"postgresql": "15", "redis": "7"},
    }  # fmt: skip


@pytest.mark.parametrize(("p95_during", "met"), [(115.0, "met"), (115.1, "MISSED")])
def test_backfill_target_is_1_3_x_idle_p95_plus_50_ms(p95_during: float, met: str) -> None:
    section = backfill_section(QUICK, IDLE, live(p95_during), 0, job(6.0))

    assert section["targets"]["p95_max_ms"] == 115.0  # 1.3 x 50 + 50
    assert section["ratios"]["p95_during_vs_idle"] == round(p95_during / 50.0, 3)
    block = report.markdown({"machine": machine(), "backfill": section})
    assert "### Backfill: live latency while a backfill runs" in block
    assert "| idle | 10 | 10.0 | 44 | 50 | 52 |" in block
    assert f"live p95 <= 1.3 x idle p95 + 50 ms = 115 ms | {met} |" in block
    assert "backfill: 60 rows final in 6.0 s (10.0 tickets/s)" in block


def test_the_generated_block_is_replaced_and_the_prose_kept(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# B\n\nprose\n\n{report.BEGIN}\nold\n{report.END}\n\nmore prose\n")
    section = backfill_section(QUICK, IDLE, live(90.0), 0, job(6.0))

    report.update_benchmarks_md({"machine": machine(), "backfill": section}, path)

    text = path.read_text()
    assert text.startswith("# B\n\nprose\n\n") and text.endswith("\n\nmore prose\n")
    assert "old" not in text and "| during backfill | 10 | 10.0 | 60 | 90 | 91 |" in text


def test_a_quick_run_writes_only_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, results, markdown = tmp_path / "out", tmp_path / "results.json", tmp_path / "B.md"
    monkeypatch.setattr(harness, "OUT", out)
    monkeypatch.setattr(harness, "RESULTS", results)
    monkeypatch.setattr(report, "BENCHMARKS_MD", markdown)
    monkeypatch.setattr(harness, "machine_info", lambda command: machine())
    monkeypatch.setattr(harness, "redis_url", lambda: "redis://127.0.0.1:6379/6")
    ran: list[tuple[str, bool]] = []

    def run_one(name: str, quick: bool, *_: object, **__: object) -> dict[str, Any]:
        ran.append((name, quick))
        if name == "pipeline":
            raise RuntimeError("worker exited")  # reported, and the others still run
        if name == "backfill":
            return {name: backfill_section(QUICK, IDLE, live(80.0), 0, job(6.0))}
        return {name: {"error": "not run here"}}

    monkeypatch.setattr(harness, "run_one", run_one)
    monkeypatch.setattr(harness, "classifier_in_all", lambda quick: {"quick_smoke": quick})

    assert harness.main(["all", "--quick"]) == 1

    assert ran == [("ingest", True), ("pipeline", True), ("backfill", True)]
    assert not results.exists() and not markdown.exists()
    assert {p.name for p in out.iterdir()} == {".lock-quick", "results-quick.json", "run-quick"}
    written = json.loads((out / "results-quick.json").read_text())
    assert written["quick"] is True and written["machine"]["redis_url"].endswith("/6")
    assert set(written) == {"machine", "quick", *harness.ALL}
    assert written["pipeline"]["error"] == "RuntimeError: worker exited"
    assert written["backfill"]["targets"]["met"] is True
    assert written["classifier"]["quick_smoke"] is True
    measured = {"date", "command", "seconds", "load_average_after"}
    assert all(set(written[name]["measured"]) == measured for name in harness.ALL)


def test_sections_from_an_earlier_run_are_named_with_their_date() -> None:
    now = backfill_section(QUICK, IDLE, live(90.0), 0, job(6.0))
    now["measured"] = {"date": machine()["date"], "command": "python -m bench backfill"}
    before = {"measured": {"date": "2025-12-31T09:00:00+00:00", "command": "python -m bench all"}}
    merged = {"machine": machine(), "backfill": now, "ingest": before}
    assert report.earlier_sections(merged) == (
        "ingest (2025-12-31T09:00:00+00:00, `python -m bench all`)"
    )
    assert "Kept from earlier runs" not in report.markdown({"machine": machine(), "backfill": now})
