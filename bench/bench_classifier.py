"""Benchmark of the local classifier: accuracy, training time, throughput, latency, model size.

    .venv/bin/python bench/bench_classifier.py [--quick]

Data: the Bitext sample in `../shared/data/bitext/` (6,480 short English requests). Larger and
longer sets are made from it (`bench/classifier_data.py`), and say so: requests with typos,
wrapped in e-mail boilerplate, and labelled by intent x product (81 labels); plus a synthetic
set of pseudo-words that fills the model's whole feature budget, the worst case for file size.
Threads are limited to 1; rates are given per CPU-second of this process (the machine may be
shared) and per wall second (`bench/classifier_measures.py`). Writes bench/out/classifier.json.
"""

# ruff: noqa: E402  (the thread settings must come before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads: one core means one thread

import argparse
import json
import platform
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.classifier_data import bitext, email, emails_81, perturbed, saturating, typos
from bench.classifier_measures import (
    latency,
    project_samples,
    split_eval,
    throughput,
    train_and_size,
)
from pipeline.classifiers.local.classifier import load_local_classifier
from pipeline.classifiers.local.labelled_examples import LabelledExample

OUT = ROOT / "bench/out/classifier.json"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every measurement, print a table, write bench/out/classifier.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, for a smoke run")
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else 10_000
    rows = bitext()
    rng = random.Random(1)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "threads": 1,
        "quick": args.quick,
    }
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        as_examples = [
            LabelledExample(description=r["description"], category=r["category"]) for r in rows
        ]
        by_intent = [
            LabelledExample(description=r["description"], category=r["intent"]) for r in rows
        ]
        long_intent = [
            LabelledExample(
                description=email(typos(r["description"], rng), rng), category=r["intent"]
            )
            for r in rows
        ]
        results["accuracy"] = {
            "bitext_categories_11": split_eval(as_examples),
            "bitext_intents_27": split_eval(by_intent),
            "bitext_intents_27_emails_typos": split_eval(long_intent),
        }
        samples = project_samples()
        if samples is not None:
            results["accuracy"]["project_samples_holdout"] = samples
        results["training"] = {
            "perturbed_11_labels": train_and_size(perturbed(rows, n), directory, "p11"),
            "emails_81_labels": train_and_size(emails_81(rows, n), directory, "e81"),
            "saturating_80_labels": train_and_size(saturating(n), directory, "s80"),
        }
        model = load_local_classifier(Path(results["training"]["perturbed_11_labels"]["path"]))
        short = [r["description"] for r in rows]
        emails = [email(typos(r["description"], rng), rng) for r in rows]
        results["throughput"] = {
            "short": throughput(model, short),
            "emails": throughput(model, emails),
        }
        results["latency"] = {
            "short": latency(model, short[:500]),
            "emails": latency(model, emails[:500]),
        }
        for entry in results["training"].values():
            entry.pop("path")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    return results


def print_table(results: dict[str, Any]) -> None:
    print("\naccuracy (Bitext: stratified 80/20 split, seed 7; samples: their held-out 20%)")
    for name, r in results["accuracy"].items():
        print(
            f"  {name:34s} labels={r['labels']:3d} acc={r['accuracy']:.4f} "
            f"macro_f1={r['macro_f1']:.4f} train={r['train_cpu_s']:.1f}s cpu"
        )
    print("\ntraining (validation split; refit on all below 5,000 examples) and model size")
    for name, r in results["training"].items():
        print(
            f"  {name:22s} n={r['tickets']:6d} labels={r['labels']:3d} features={r['features']:7d} "
            f"cpu={r['train_cpu_s']:6.1f}s wall={r['train_wall_s']:6.1f}s "
            f"size={r['model_mb']:6.2f} MB load={r['load_s']:.2f}s val_acc={r['val_accuracy']:.3f}"
        )
    print("\nclassification, 1 thread, batches of 1000")
    for name, r in results["throughput"].items():
        print(
            f"  {name:8s} mean {r['mean_chars']:6.1f} chars: {r['per_cpu_second']:6d}/cpu-s "
            f"{r['per_wall_second']:6d}/wall-s"
        )
    print("\nsingle ticket latency")
    for name, r in results["latency"].items():
        print(
            f"  {name:8s} wall p50={r['p50_ms']:.2f} p95={r['p95_ms']:.2f} "
            f"max={r['max_ms']:.2f} ms; cpu p50={r['cpu_p50_ms']:.2f} p95={r['cpu_p95_ms']:.2f} ms"
        )
    print(f"\nwritten to {OUT}")


if __name__ == "__main__":
    main()
