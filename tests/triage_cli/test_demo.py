"""`triage demo`: every bundled sample ticket through HTTP, worker and departments, to the end."""

from __future__ import annotations

import pytest

from triage_cli.demo import run_demo


def test_demo_finishes_every_sample_ticket(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAGE_CLASSIFIER", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert run_demo(None, None, timeout_s=240, concurrency=8) == 0
    out = capsys.readouterr().out
    assert "400/400 final" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    count, done, review, failed, other = (int(x) for x in total.split()[1:])
    assert (count, other, failed) == (400, 0, 0) and done + review == 400
    assert "departments received 400 deliveries, 0 duplicates" in out
    assert "accuracy on" in out and "p95" in out
