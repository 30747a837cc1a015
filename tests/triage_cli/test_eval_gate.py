"""`triage eval --classifier …`: local and cascade side by side against the stub OpenAI API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.classifiers.local.classifier import LocalClassifier, load_local_classifier
from pipeline.domain.classification import TicketText
from pipeline.testing.openai_stub import OpenAIStub, running_stub
from triage_cli.evaluate import eval_command

API_KEY = "sk-test-eval-0123456789"
CATEGORIES = ("billing", "refund", "shipping", "technical", "account", "security", "sales")
TEMPLATES = (
    "Hello, I have a {c} question about order 51{i}. Please help.",
    "Urgent {c} matter: nobody answered my mail from last week ({i}).",
    "Could someone from the {c} team call me back? Reference 77{i}.",
    "My {c} problem is still open after three days, ticket {i}.",
    "Question regarding {c}, customer number 90{i}, thank you.",
)
# The stub's answers: 321 prompt + 42 output tokens per request, priced as gpt-4.1-mini.
TOKENS_PER_REQUEST = 321 + 42
USD_PER_REQUEST = (321 * 0.40 + 42 * 1.60) / 1e6


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with running_stub(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """Tickets that name their category (the stub answers with the name it finds), one repeat."""
    rows = [
        {"description": template.format(c=category, i=i), "category": category}
        for category in CATEGORIES
        for i, template in enumerate(TEMPLATES)
    ]
    rows.append(rows[0])  # the same text twice: the decision cache answers the second
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def env_for(stub: OpenAIStub) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": API_KEY,
        "TRIAGE_OPENAI_BASE_URL": stub.url,
        "TRIAGE_CASCADE_LLM": "openai",
        "TRIAGE_CASCADE_THRESHOLD": "1.0",  # every ticket is unsure: the LLM answers all
        "TRIAGE_BROKER_URL": "memory://",  # no Redis: budget and cache in this process
        "TRIAGE_CONFIDENCE_THRESHOLD": "0.55",
    }


def expected_local(path: Path) -> tuple[float, float, float]:
    """Accuracy, review threshold and coverage of the local model, computed here without the CLI."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    local = load_local_classifier(None)
    decisions = local.classify_many([TicketText(description=r["description"]) for r in rows])
    hits = [d.category == r["category"] for d, r in zip(decisions, rows, strict=True)]
    # The model's own threshold from training counts where it is stricter than the setting.
    threshold = max(0.55, getattr(local, "review_threshold", None) or 0.0)
    coverage = sum(d.confidence >= threshold for d in decisions) / len(rows)
    return sum(hits) / len(rows), threshold, coverage


ROW = re.compile(
    r"^(?P<name>\w+)\s+(?P<acc>\d\.\d{3})\s+(?P<f1>\d\.\d{3})\s+(?P<thr>\d\.\d{2})\s+"
    r"(?P<cov>\d\.\d{3})\s+(?P<prec>\S+)\s+(?P<req>\d+)\s+(?P<tok>\d+)\s+(?P<cost>\S+)\s+"
    r"(?P<p50>\S+)\s+(?P<p95>\S+)\s+(?P<err>\d+)$"
)


def table(result: Result) -> dict[str, dict[str, str]]:
    found = (ROW.match(line) for line in result.stdout.splitlines())
    return {m["name"]: m.groupdict() for m in found if m}


def run(stub: OpenAIStub, *args: str) -> Result:
    return CliRunner().invoke(eval_command, list(args), env=env_for(stub))


def test_local_and_cascade_side_by_side_and_the_gate(stub: OpenAIStub, labelled: Path) -> None:
    n = 7 * 5 + 1
    local_acc, local_thr, local_cov = expected_local(labelled)
    args = [str(labelled), "--classifier", "local", "--classifier", "cascade"]
    passed = run(stub, *args, "--fail-under", f"{min(local_acc, 1.0) - 0.01:.3f}")
    assert passed.exit_code == 0, passed.output
    rows = table(passed)
    assert set(rows) == {"local", "cascade"}, passed.stdout
    assert float(rows["local"]["acc"]) == pytest.approx(local_acc, abs=0.0005)
    assert float(rows["local"]["thr"]) == pytest.approx(local_thr, abs=0.005)
    assert float(rows["local"]["cov"]) == pytest.approx(local_cov, abs=0.0005)
    assert rows["local"]["req"] == "0" and rows["local"]["tok"] == "0"
    assert rows["local"]["cost"] == "0.0000"
    # Every ticket went to the stub, which found each ticket's category in its text.
    cascade = rows["cascade"]
    assert cascade["acc"] == "1.000" and cascade["f1"] == "1.000" and cascade["err"] == "0"
    assert cascade["cov"] == "1.000" and cascade["prec"] == "1.000"  # the stub says 0.93
    assert int(cascade["req"]) == n - 1  # the repeated text came from the decision cache
    assert int(cascade["tok"]) == (n - 1) * TOKENS_PER_REQUEST
    assert float(cascade["cost"]) == pytest.approx((n - 1) * USD_PER_REQUEST, abs=0.00005)
    assert len(stub.recorded()) == n - 1  # bytes on the wire: one request per distinct text
    assert "p50" not in cascade["p50"] and float(cascade["p95"]) >= float(cascade["p50"])

    failed = run(stub, *args, "--fail-under", f"{local_acc + 0.01:.3f}")
    assert failed.exit_code == 1, failed.output
    gate = [line for line in failed.stderr.splitlines() if "--fail-under" in line]
    assert gate == [
        f"eval: accuracy below --fail-under {local_acc + 0.01:.3f}: local {local_acc:.3f}"
    ], failed.stderr


def test_json_is_one_object_with_every_classifier(stub: OpenAIStub, labelled: Path) -> None:
    result = run(
        stub,
        *[str(labelled), "--classifier", "local", "--classifier", "cascade"],
        *["--json", "--fail-under", "0.99", "--target-precision", "0.9"],
    )
    assert result.exit_code == 1, result.output  # local is below 0.99
    report = json.loads(result.stdout)
    assert report["n"] == 36 and report["passed"] is False and report["fail_under"] == 0.99
    assert report["classifier"] == "local" and report["model"].startswith("local-")
    assert set(report["classifiers"]) == {"local", "cascade"}
    cascade = report["classifiers"]["cascade"]
    assert cascade["accuracy"] == 1.0 and cascade["requests"] == 35 and cascade["cache_hits"] == 1
    assert cascade["tokens"] == 35 * TOKENS_PER_REQUEST
    assert cascade["threshold"] == 0.55 and cascade["coverage"] == 1.0
    assert cascade["target_precision"] == 0.9
    assert cascade["target"]["precision"] >= 0.9 and cascade["target"]["coverage"] == 1.0
    assert cascade["latency_p50_ms"] > 0 and "+gpt-4.1-mini/" in cascade["model"]


def test_an_llm_without_its_key_is_refused_in_one_line(labelled: Path) -> None:
    env: dict[str, str | None] = {"OPENAI_API_KEY": None, "TRIAGE_OPENAI_API_KEY": None}
    result = CliRunner().invoke(eval_command, [str(labelled), "--classifier", "openai"], env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--classifier openai needs OPENAI_API_KEY" in result.output


def test_overlap_with_the_training_rows_and_the_stored_threshold_are_reported(
    labelled: Path, monkeypatch: pytest.MonkeyPatch, stub: OpenAIStub
) -> None:
    # What the training side adds to the model: its fingerprint of rows, its own threshold.
    from pipeline.classifiers.local import classifier as local_module

    load = local_module.load_local_classifier

    def loaded(path: object) -> LocalClassifier:
        model = load(path)  # type: ignore[arg-type]
        model.review_threshold = 0.7
        model.training_overlap = lambda examples: 12  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(local_module, "load_local_classifier", loaded)
    result = run(stub, str(labelled))
    assert result.exit_code == 0, result.output
    assert "warning: 12 of 36 rows of labelled.jsonl were in the model's training set" in (
        result.stderr
    )
    assert re.search(r"^review threshold 0\.70 \(model\): coverage \d\.\d{3}", result.stdout, re.M)
    result = run(stub, str(labelled), "--threshold", "0.4", "--json")
    report = json.loads(result.stdout)
    assert report["threshold"] == 0.4 and report["threshold_source"] == "--threshold"
    assert report["training_overlap"] == 12


def test_target_precision_and_cost_lines_for_one_classifier(
    labelled: Path, stub: OpenAIStub
) -> None:
    result = run(stub, str(labelled), "--target-precision", "0.5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(re.match(r"^target precision 0\.50: (threshold|no threshold)", x) for x in lines)
    assert any(x.startswith("llm requests=0 cache_hits=0 tokens=0 cost=$0.0000") for x in lines)
    assert re.match(r"^accuracy=\d\.\d{3} macro_f1=\d\.\d{3} n=36$", lines[-1])


def test_casefold_compares_labels_as_trained(
    labelled: Path, tmp_path: Path, stub: OpenAIStub
) -> None:
    shouting = tmp_path / "upper.jsonl"
    rows = [json.loads(line) for line in labelled.read_text(encoding="utf-8").splitlines()]
    shouting.write_text(
        "".join(json.dumps({**r, "category": r["category"].upper()}) + "\n" for r in rows),
        encoding="utf-8",
    )
    local_acc, _, _ = expected_local(labelled)
    as_is = json.loads(run(stub, str(shouting), "--json").stdout)
    assert as_is["accuracy"] == 0.0 and "BILLING" in as_is["unknown_labels"]
    folded = json.loads(run(stub, str(shouting), "--json", "--casefold").stdout)
    assert folded["accuracy"] == pytest.approx(local_acc) and folded["unknown_labels"] == []
