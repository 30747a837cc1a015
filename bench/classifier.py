"""Classifier bench: runs the colleague's `bench/bench_classifier.py` and keeps its key figures.

The script runs in its own process, so its thread limits apply before numpy loads; it writes
`bench/out/classifier.json`, from which the headline figures are copied into results.json.
`smoke()` is for `all --quick`: the script's own --quick run takes about a minute, the whole
quick budget, so only its throughput and latency functions run there, on the default model.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, say

SCRIPT = ROOT / "bench" / "bench_classifier.py"
OUTPUT = ROOT / "bench" / "out" / "classifier.json"


def run_classifier(quick: bool) -> dict[str, Any]:
    """Run bench_classifier.py (with --quick in quick mode) and summarise its JSON."""
    argv = [PYTHON, str(SCRIPT), *(["--quick"] if quick else [])]
    say(f"classifier: running {SCRIPT.relative_to(ROOT)}{' --quick' if quick else ''}")
    started = time.monotonic()
    completed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"bench_classifier.py failed:\n{completed.stderr[-3000:]}")
    for line in completed.stdout.strip().splitlines():
        print(f"    {line}")
    summary = summarise(json.loads(OUTPUT.read_text(encoding="utf-8")))
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["source"] = f"{SCRIPT.relative_to(ROOT)}{' --quick' if quick else ''}"
    return summary


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of bench_classifier.py's JSON (the whole file stays beside it)."""
    out: dict[str, Any] = {"quick": raw.get("quick"), "threads": raw.get("threads")}
    out["accuracy"] = {
        name: {k: r.get(k) for k in ("labels", "test", "accuracy", "macro_f1")}
        for name, r in raw.get("accuracy", {}).items()
    }
    out["training"] = {
        name: {k: r.get(k) for k in ("tickets", "labels", "train_cpu_s", "model_mb", "load_s")}
        for name, r in raw.get("training", {}).items()
    }
    out["throughput_per_cpu_s"] = {
        name: r.get("per_cpu_second") for name, r in raw.get("throughput", {}).items()
    }
    out["latency_ms"] = {
        name: {"p50": r.get("p50_ms"), "p95": r.get("p95_ms")}
        for name, r in raw.get("latency", {}).items()
    }
    return out


def smoke() -> dict[str, Any]:
    """A few seconds: the script's throughput and latency functions on the default model."""
    from threadpoolctl import threadpool_limits

    from bench.classifier_measures import latency, throughput
    from pipeline.classifiers.local.classifier import load_local_classifier

    say("classifier: smoke (default model, 1 thread); the full run is `python -m bench classifier`")
    with threadpool_limits(1):
        model = load_local_classifier(None)
        texts, text_source = _smoke_texts()
        out: dict[str, Any] = {
            "source": "bench_classifier.throughput/latency on the default model (smoke, "
            f"{text_source})",
            "throughput_per_cpu_s": {"short": throughput(model, texts)["per_cpu_second"]},
            "latency_ms": {"short": _p50_p95(latency(model, texts[:100]))},
        }
    if OUTPUT.is_file():
        # The last full (or --quick) run of the script, for reference: not measured now.
        out["last_run"] = summarise(json.loads(OUTPUT.read_text(encoding="utf-8")))
    return out


def _smoke_texts() -> tuple[list[str], str]:
    """Bitext requests where the shared data is present, else the project's own samples."""
    from bench.classifier_data import BITEXT, bitext

    if BITEXT.is_file():
        return [row["description"] for row in bitext()[:500]], "Bitext requests"
    from pipeline.data.samples import load_sample_tickets

    say(f"classifier: {BITEXT} absent; timing the project's sample tickets instead")
    return [ticket.description for ticket in load_sample_tickets()][:500], "project samples"


def _p50_p95(result: dict[str, Any]) -> dict[str, Any]:
    return {"p50": result["p50_ms"], "p95": result["p95_ms"]}


def previous(path: Path = OUTPUT) -> dict[str, Any] | None:
    """The figures of the script's last run, if any."""
    return summarise(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None
