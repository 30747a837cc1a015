"""Classifier bench: accuracy, training time, throughput, latency and model size of the local
model's two tiers, `ngram` and `embedding`, side by side.

    python -m bench classifier [--quick]    # runs this module in its own process

Data: the Bitext sample (6,480 short English requests) and harder sets made from it
(`bench.classifier_data`), each split 80/20 by label and template (near-duplicates never on
both sides), and the project's samples with their own held-out 20%. One thread (the variables
below and threadpoolctl, set before numpy loads); rates per CPU-second of this process (the
machine may be shared) and per wall second.
Writes bench/out/classifier.json; its headline figures go into results.json. `smoke()` is for
`all --quick`: only throughput and latency, on the default model, in a few seconds.
"""

# ruff: noqa: E402  (the thread settings must come before numpy is imported)
from __future__ import annotations

import os

THREAD_VARS = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
if __name__ == "__main__":
    os.environ.update(THREAD_VARS)

import argparse
import json
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from bench import classifier_data as data
from bench.common import PYTHON, ROOT, say
from pipeline.classifiers.local.classifier import LocalClassifier, load_local_classifier
from pipeline.classifiers.local.evaluation import evaluate
from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.model_file import write_model
from pipeline.classifiers.local.training import train_model
from pipeline.domain.classification import TicketText

OUTPUT = ROOT / "bench" / "out" / "classifier.json"


def run_classifier(quick: bool) -> dict[str, Any]:
    """Run this module's measurements in a process of their own; their headline figures."""
    argv = [PYTHON, "-m", "bench.classifier", *(["--quick"] if quick else [])]
    say(f"classifier: running python -m bench.classifier{' --quick' if quick else ''}")
    started = time.monotonic()
    env = {**os.environ, **THREAD_VARS}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.classifier failed:\n{done.stderr[-3000:]}")
    for line in done.stdout.strip().splitlines():
        print(f"    {line}")
    summary = summarise(json.loads(OUTPUT.read_text(encoding="utf-8")))
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["source"] = f"python -m bench.classifier{' --quick' if quick else ''}"
    return summary


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of classifier.json (the whole file stays beside it)."""

    def pick(section: str, keys: tuple[str, ...]) -> dict[str, Any]:
        return {name: {k: r.get(k) for k in keys} for name, r in raw.get(section, {}).items()}

    return {
        "quick": raw.get("quick"),
        "threads": raw.get("threads"),
        "accuracy": pick("accuracy", ("labels", "test", "accuracy", "macro_f1")),
        "training": pick("training", ("tickets", "labels", "train_cpu_s", "model_mb", "load_s")),
        "throughput_per_cpu_s": {
            n: r.get("per_cpu_second") for n, r in raw.get("throughput", {}).items()
        },
        "latency_ms": {
            n: {"p50": r.get("p50_ms"), "p95": r.get("p95_ms")}
            for n, r in raw.get("latency", {}).items()
        },
    }


def smoke() -> dict[str, Any]:
    """A few seconds: throughput and latency on the default model (the quick run's minute)."""
    say("classifier: smoke (default model, 1 thread); the full run is `python -m bench classifier`")
    with threadpool_limits(1):
        model = load_local_classifier(None)
        if data.BITEXT.is_file():
            texts, text_source = [r["description"] for r in data.bitext()[:500]], "Bitext requests"
        else:
            from pipeline.data.samples import load_sample_tickets

            say(f"classifier: {data.BITEXT} absent; timing the project's sample tickets instead")
            texts, text_source = (
                [t.description for t in load_sample_tickets()][:500],
                "project samples",
            )
        timing = latency(model, texts[:100])
        out: dict[str, Any] = {
            "source": "bench.classifier throughput/latency on the default model "
            f"(smoke, {text_source})",
            "throughput_per_cpu_s": {"short": throughput(model, texts)["per_cpu_second"]},
            "latency_ms": {"short": {"p50": timing["p50_ms"], "p95": timing["p95_ms"]}},
        }
    if OUTPUT.is_file():  # the last full (or --quick) run, for reference: not measured now
        out["last_run"] = summarise(json.loads(OUTPUT.read_text(encoding="utf-8")))
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


KINDS = ("ngram", "embedding")


def held_out(
    train: list[LabelledExample], test: list[LabelledExample], kind: str = "ngram"
) -> dict[str, Any]:
    """Train on `train`, evaluate on `test` (and at the model's stored review threshold)."""
    (model, report), wall, cpu = timed(lambda: train_model(train, kind=kind))
    classifier = LocalClassifier(model)
    threshold = classifier.review_threshold
    result = evaluate(classifier, test, threshold=threshold if threshold is not None else 0.55)
    return {
        "kind": kind,
        "labels": len(report.labels),
        "train": len(train),
        "test": len(test),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "urgency_accuracy": round(result.urgency_accuracy or 0.0, 4),
        "urgency_source": report.urgency_source,
        "review_threshold": None if threshold is None else round(threshold, 3),
        "coverage": _round(result.above_threshold_share),
        "precision_above": _round(result.above_threshold_accuracy),
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def tiers(sets: dict[str, tuple[list[LabelledExample], list[LabelledExample]]]) -> dict[str, Any]:
    """Every set with both tiers: `<set>.ngram` and `<set>.embedding`."""
    out = {}
    for name, (train, test) in sets.items():
        for kind in KINDS:
            say(f"classifier: {name} ({len(train)}/{len(test)}), {kind}")
            out[f"{name}.{kind}"] = held_out(train, test, kind)
    return out


def train_and_size(
    examples: list[LabelledExample], directory: Path, name: str, kind: str = "ngram"
) -> dict[str, Any]:
    """Train on every example, write the model file, and time loading it back."""
    (model, report), wall, cpu = timed(lambda: train_model(examples, kind=kind))
    path = directory / f"{name}.model"
    write_model(model, path)
    _, load_wall, _ = timed(lambda: load_local_classifier(path))
    return {
        "kind": kind,
        "tickets": len(examples),
        "labels": len(report.labels),
        "features": report.n_features,
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
        "model_mb": round(path.stat().st_size / 1e6, 2),
        "load_s": round(load_wall, 3),
        "path": str(path),
    }


def throughput(model: LocalClassifier, texts: Sequence[str], batch: int = 1000) -> dict[str, Any]:
    """Tickets classified per CPU-second and per wall second, in batches."""
    tickets = [TicketText(description=t) for t in texts]
    model.classify_many(tickets[:50])  # warm: language model loaded, caches filled
    _, wall, cpu = timed(
        lambda: [model.classify_many(tickets[i : i + batch]) for i in range(0, len(tickets), batch)]
    )
    return {
        "tickets": len(tickets),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "per_cpu_second": round(len(tickets) / cpu),
        "per_wall_second": round(len(tickets) / wall),
    }


def latency(model: LocalClassifier, texts: Sequence[str]) -> dict[str, Any]:
    """One ticket per call: wall and CPU milliseconds (CPU is what contention cannot inflate)."""
    walls, cpus = [], []
    for text in texts:
        ticket = TicketText(description=text)
        _, wall, cpu = timed(lambda ticket=ticket: model.classify(ticket))
        walls.append(wall * 1000)
        cpus.append(cpu * 1000)

    def p(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)), 3)

    return {
        "tickets": len(walls),
        "p50_ms": p(walls, 50),
        "p95_ms": p(walls, 95),
        "max_ms": round(max(walls), 3),
        "cpu_p50_ms": p(cpus, 50),
        "cpu_p95_ms": p(cpus, 95),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every measurement, print a table, write bench/out/classifier.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.classifier", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sets, for a smoke run")
    n = 2_000 if parser.parse_args(argv).quick else 10_000
    rows, rng = data.bitext(), random.Random(1)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "threads": 1,
        "quick": n < 10_000,
    }
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:

        def examples(label: str, text: Callable[[str], str] = str) -> list[LabelledExample]:
            return [
                LabelledExample(description=text(r["description"]), category=r[label]) for r in rows
            ]

        intents = examples("intent")
        sets = {
            "bitext_categories_11": data.split(examples("category")),
            "bitext_intents_27": data.split(intents),
            "bitext_intents_27_10_per_label": data.split(intents, per_label=10),
            "bitext_intents_27_emails_typos": data.split(
                examples("intent", lambda t: data.email(data.typos(t, rng), rng))[
                    :: 1 if n >= 10_000 else 3
                ]
            ),
        }
        if (samples := data.project_samples()) is not None:
            sets["project_samples_holdout"] = samples
        results["accuracy"] = tiers(sets)
        directory = Path(tmp)
        small = n // 5  # the embedding tier encodes every ticket: a fifth of the set
        results["training"] = {
            "perturbed_11_labels": train_and_size(data.perturbed(rows, n), directory, "p11"),
            "emails_81_labels": train_and_size(data.emails_81(rows, n), directory, "e81"),
            "saturating_80_labels": train_and_size(data.saturating(n), directory, "s80"),
            f"perturbed_11_labels_{small}.embedding": train_and_size(
                data.perturbed(rows, small), directory, "p11e", "embedding"
            ),
        }
        model = load_local_classifier(Path(results["training"]["perturbed_11_labels"].pop("path")))
        embedded = load_local_classifier(
            Path(results["training"][f"perturbed_11_labels_{small}.embedding"].pop("path"))
        )
        short = [r["description"] for r in rows]
        emails = [data.email(data.typos(r["description"], rng), rng) for r in rows]
        results["throughput"] = {
            "short": throughput(model, short),
            "emails": throughput(model, emails),
            "short.embedding": throughput(embedded, short[:2000]),
            "emails.embedding": throughput(embedded, emails[:500]),
        }
        results["latency"] = {
            "short": latency(model, short[:500]),
            "emails": latency(model, emails[:500]),
            "short.embedding": latency(embedded, short[:100]),
        }
        for entry in results["training"].values():
            entry.pop("path", None)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    return results


def print_table(results: dict[str, Any]) -> None:
    """The headline figures, for the terminal (and the bench's log)."""
    for section in ("accuracy", "training", "throughput", "latency"):
        print(f"\n{section}")
        for name, figures in results[section].items():
            print(f"  {name:32s} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    print(f"\nwritten to {OUTPUT}")


if __name__ == "__main__":
    main()
