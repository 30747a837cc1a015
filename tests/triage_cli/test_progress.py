"""Progress: a live bar with rate and ETA on a terminal; plain lines, never `\\r`, elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from triage_cli import progress
from triage_cli.progress import summary, tracking


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False)


def test_off_a_terminal_plain_lines_with_rate_share_and_eta(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with tracking("load", total=200, unit="rows", console=plain_console(), interval_s=0) as bar:
        bar.update(advance=50, detail="stored 50")
        bar.update(advance=50, detail="stored 100")
    summary("loaded 100 rows")

    out, err = capsys.readouterr()
    assert "\r" not in out + err
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("load: 100 rows · stored 100 · ")
    assert " rows/s · 50% · ETA 0:00:" in lines[1]
    assert out == "loaded 100 rows\n"  # the summary alone on stdout


def test_off_a_terminal_at_most_one_line_per_interval(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 3600.0)
    with tracking("load", total=None, console=plain_console()) as bar:
        for _ in range(1000):
            bar.update(advance=1)
    assert capsys.readouterr().err == ""  # a short run: the summary line says it all


def test_without_a_rate_nor_total_the_line_says_what_is_known(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with tracking(
        "train", unit="steps", console=plain_console(), interval_s=0, show_rate=False
    ) as bar:
        bar.update(count=1, detail="fitting features")
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("train: 1 steps · fitting features · elapsed 0:00:0")
    assert "/s" not in line and "ETA" not in line


def test_on_a_terminal_a_bar_with_rate_and_eta_then_cleared() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140)
    assert progress.is_interactive(console)
    with tracking("backfill", total=1000, unit="rows", console=console) as bar:
        bar.update(advance=250, detail="stored 250")
    drawn = screen.getvalue()
    assert "backfill" in drawn and "rows/s" in drawn and "ETA" in drawn and "25%" in drawn
    assert "stored 250" in drawn


def test_a_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.is_interactive(Console(file=io.StringIO(), force_terminal=True))
