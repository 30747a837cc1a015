"""`triage train` and `triage eval` on small files, through click's test runner."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage_cli.evaluate import eval_command
from triage_cli.train import train_command

BITEXT = Path(__file__).resolve().parents[2].parent / "shared/data/bitext/bitext-v1.jsonl"
LAST_TRAIN = re.compile(
    r"^model written to (?P<path>\S+) labels=(?P<labels>\d+) trained_on=(?P<n>\d+) "
    r"val_accuracy=(?P<acc>\d\.\d{3})$"
)
LAST_EVAL = re.compile(r"^accuracy=(?P<acc>\d\.\d{3}) macro_f1=\d\.\d{3} n=(?P<n>\d+)$")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    if not BITEXT.is_file():
        pytest.skip(f"Bitext sample not found at {BITEXT} (shared/ is checked out beside the repo)")
    lines = BITEXT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[::6]]  # ~1,000 rows keep the tests quick


@pytest.fixture
def files(rows: list[dict[str, str]], tmp_path: Path) -> tuple[Path, Path]:
    """Training rows as gzipped CSV with foreign column names; the rest as JSONL."""
    train = tmp_path / "train.csv.gz"
    with gzip.open(train, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["body", "label"])
        writer.writerows([r["description"], r["category"]] for r in rows[::2])
    test = tmp_path / "test.jsonl"
    test.write_text(
        "".join(
            json.dumps({"body": r["description"], "label": r["category"]}) + "\n"
            for r in rows[1::2]
        ),
        encoding="utf-8",
    )
    return train, test


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_train_then_eval(files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = files
    model = tmp_path / "out" / "bitext.model"
    runner = CliRunner()
    result = runner.invoke(
        train_command, [str(train), "--out", str(model), "--map", "description=body,category=label"]
    )
    assert result.exit_code == 0, result.output
    assert "held-back validation" in result.output
    found = LAST_TRAIN.match(last_line(result.stdout))
    assert found, result.stdout
    assert Path(found["path"]) == model and model.is_file()
    assert int(found["labels"]) == 11 and float(found["acc"]) > 0.9

    result = runner.invoke(
        eval_command, [str(test), "--model", str(model), "--map", "description=body,category=label"]
    )
    assert result.exit_code == 0, result.output
    assert "precision" in result.output
    found = LAST_EVAL.match(last_line(result.stdout))
    assert found, result.stdout
    assert float(found["acc"]) > 0.9 and int(found["n"]) > 400

    result = runner.invoke(
        eval_command,
        [str(test), "--model", str(model), "--map", "description=body,category=label", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"].startswith("local-")
    assert set(report) >= {"accuracy", "macro_f1", "n", "per_label", "confusions"}
    assert report["per_label"]["REFUND"]["recall"] > 0.8


def test_eval_takes_the_model_from_the_environment(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = files
    model = tmp_path / "env.model"
    runner = CliRunner()
    assert (
        runner.invoke(
            train_command,
            [str(train), "--out", str(model), "--map", "description=body,category=label"],
        ).exit_code
        == 0
    )
    result = runner.invoke(
        eval_command,
        [str(test), "--map", "description=body,category=label"],
        env={"TRIAGE_LOCAL_MODEL": str(model)},
    )
    assert result.exit_code == 0, result.output
    assert LAST_EVAL.match(last_line(result.stdout))


def assert_usage_error(result: object, fragment: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert result.exception is None or isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert fragment in result.output  # type: ignore[attr-defined]


def test_clear_errors_for_bad_inputs(files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = files
    runner = CliRunner()
    assert_usage_error(runner.invoke(train_command, [str(tmp_path / "absent.csv")]), "no such file")
    assert_usage_error(runner.invoke(train_command, [str(train)]), "column 'description'")
    assert_usage_error(
        runner.invoke(train_command, [str(train), "--map", "category=nope,description=body"]),
        "'nope'",
    )
    assert_usage_error(
        runner.invoke(train_command, [str(train), "--map", "colour=body"]), "unknown column"
    )
    one_label = tmp_path / "one.jsonl"
    one_label.write_text('{"description": "a", "category": "x"}\n' * 5, encoding="utf-8")
    assert_usage_error(runner.invoke(train_command, [str(one_label)]), "at least 2 labels")
    broken = tmp_path / "broken.model"
    broken.write_bytes(b"ticket-triage-local-model\n{}\n")
    assert_usage_error(
        runner.invoke(
            eval_command,
            [str(test), "--model", str(broken), "--map", "description=body,category=label"],
        ),
        "format version",
    )


def test_the_cli_imports_scikit_learn_only_for_train_and_eval() -> None:
    probe = "import sys, triage_cli.main; print('sklearn' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_progress_off_a_terminal_is_plain_lines_and_ends_with_the_summary(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage_cli import progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)  # a line at every step
    train, test = files
    model = tmp_path / "p.model"
    column_map = "description=body,category=label"
    runner = CliRunner()
    trained = runner.invoke(train_command, [str(train), "--out", str(model), "--map", column_map])
    assert trained.exit_code == 0, trained.output
    steps = [line for line in trained.stderr.splitlines() if line.startswith("train: ")]
    assert any("fitting features" in line for line in steps), trained.stderr
    assert LAST_TRAIN.match(last_line(trained.stdout))

    scored = runner.invoke(eval_command, [str(test), "--model", str(model), "--map", column_map])
    assert scored.exit_code == 0, scored.output
    assert any(line.startswith("eval: ") for line in scored.stderr.splitlines()), scored.stderr
    assert LAST_EVAL.match(last_line(scored.stdout))
    assert "\r" not in trained.output + scored.output
