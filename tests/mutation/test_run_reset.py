"""Resuming `make mutate`: which cached verdicts and maps are thrown away before a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mutation.run as run
from mutation.run import reset_for_retest, sha256


def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorded_sha: str) -> Path:
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline/mod.py").write_text("def f():\n    return 1\n")
    (tmp_path / "mutation").mkdir()
    module = {"sha256": recorded_sha, "tests": {}}
    (tmp_path / "mutation/state.json").write_text(
        json.dumps({"modules": {"pipeline/mod.py": module}})
    )
    mutants = tmp_path / "mutants"
    (mutants / "pipeline").mkdir(parents=True)
    codes = {"pipeline.mod.x_f__mutmut_1": 1, "pipeline.mod.x_f__mutmut_2": 33}
    (mutants / "pipeline/mod.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    (mutants / "mutmut-stats.json").write_text("{}")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "HERE", tmp_path / "mutation")
    return tmp_path


def test_a_changed_module_has_its_test_map_taken_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workdir(tmp_path, monkeypatch, recorded_sha="an older source")
    assert reset_for_retest(root, ["pipeline/mod.py"]) == 1  # the "no tests" survivor only
    assert not (root / "mutants/mutmut-stats.json").exists()
    meta = json.loads((root / "mutants/pipeline/mod.py.meta").read_text())
    assert meta["exit_code_by_key"] == {
        "pipeline.mod.x_f__mutmut_1": 1,
        "pipeline.mod.x_f__mutmut_2": None,
    }


def test_an_unchanged_module_keeps_the_test_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workdir(tmp_path, monkeypatch, recorded_sha="")
    digest = sha256(root / "pipeline/mod.py")
    state = {"modules": {"pipeline/mod.py": {"sha256": digest, "tests": {}}}}
    (root / "mutation/state.json").write_text(json.dumps(state))
    assert reset_for_retest(root, ["pipeline/mod.py"]) == 1
    assert (root / "mutants/mutmut-stats.json").exists()
