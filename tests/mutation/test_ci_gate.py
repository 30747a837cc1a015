"""The CI mutation gate decides what a change touched from file hashes alone."""

from __future__ import annotations

from pathlib import Path

from mutation.ci_gate import failures, plan, why_touched
from mutation.run import ModuleResult, sha256


def _record(root: Path, **extra: object) -> dict[str, object]:
    return {
        "sha256": sha256(root / "pipeline/mod.py"),
        "tests": {"tests/test_mod.py": sha256(root / "tests/test_mod.py")},
        "not_run": 0,
        **extra,
    }


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pipeline/mod.py").write_text("x = 1\n")
    (tmp_path / "tests/test_mod.py").write_text("def test_x():\n    assert True\n")
    return tmp_path


def test_an_unchanged_module_with_a_complete_record_is_left_alone(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert why_touched("pipeline/mod.py", _record(root), root) is None


def test_a_module_is_touched_when_its_source_or_a_covering_test_changes(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = _record(root)
    (root / "tests/test_mod.py").write_text("def test_x():\n    pass\n")  # assertion deleted
    assert why_touched("pipeline/mod.py", record, root) == (
        "covering tests changed: tests/test_mod.py"
    )
    (root / "pipeline/mod.py").write_text("x = 2\n")
    assert why_touched("pipeline/mod.py", record, root) == "source changed"


def test_an_incomplete_or_missing_record_is_mutated_not_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert why_touched("pipeline/mod.py", _record(root, not_run=77), root) == (
        "record incomplete (77 mutants never run)"
    )
    assert why_touched("pipeline/mod.py", None, root) == "no record in mutation/state.json"


def test_the_plan_takes_the_cheapest_modules_within_the_budget() -> None:
    state: dict[str, dict[str, object]] = {
        "a.py": {"seconds": 500.0},
        "b.py": {"seconds": 100.0},
        "c.py": {"seconds": 900.0},
    }
    touched = {"a.py": "source changed", "b.py": "source changed", "c.py": "source changed"}
    chosen, skipped = plan(touched, state, budget_s=800)
    assert chosen == ["b.py", "a.py"]
    assert skipped == ["c.py"]


def test_a_new_survivor_fails_the_gate_even_above_the_bar() -> None:
    state: dict[str, dict[str, object]] = {"pipeline/mod.py": {"survived": 0}}
    clean = ModuleResult("pipeline/mod.py", killed=45, equivalent=4)
    one_more = ModuleResult("pipeline/mod.py", killed=43, survived=2, equivalent=4)
    assert failures([clean], state, 0.90) == []
    assert failures([one_more], state, 0.90) == [
        "pipeline/mod.py: 2 surviving mutants not in mutation/equivalents.toml (recorded: 0); "
        "rate 0.956"
    ]


def test_under_the_bar_fails_and_a_recorded_survivor_does_not() -> None:
    state: dict[str, dict[str, object]] = {"pipeline/mod.py": {"survived": 1}}
    recorded = ModuleResult("pipeline/mod.py", killed=19, survived=1)
    assert failures([recorded], state, 0.90) == []
    weak = ModuleResult("pipeline/mod.py", killed=8, survived=1, timeout=1)
    assert failures([weak], state, 0.90) == ["pipeline/mod.py: rate 0.800 < 0.90"]
    unknown = ModuleResult("pipeline/new.py", killed=9, survived=1)
    assert failures([unknown], {}, 0.85) == [
        "pipeline/new.py: 1 surviving mutants not in mutation/equivalents.toml (recorded: 0); "
        "rate 0.900"
    ]
