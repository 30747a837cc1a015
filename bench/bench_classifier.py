"""Benchmark of the local classifier: accuracy, training time, throughput, latency, model size.

    .venv/bin/python bench/bench_classifier.py [--quick]

Data: the Bitext sample in `../shared/data/bitext/` (6,480 short English requests). Larger and
longer sets are made from it here, and say so: requests with typos, wrapped in e-mail
boilerplate, and labelled by intent x product (81 labels); plus a synthetic set of pseudo-words
that fills the model's whole feature budget, the worst case for file size. Threads are limited
to 1; rates are given per CPU-second of this process (the machine may be shared) and per wall
second. Writes bench/out/classifier.json.
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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.classification import TicketText
from pipeline.classifiers.local import LocalClassifier, load_local_classifier
from pipeline.classifiers.model_file import write_model
from pipeline.classifiers.training import (
    LabelledExample,
    evaluate,
    stratified_split,
    train_model,
)
from pipeline.classifiers.urgency import normalise_urgency

BITEXT = ROOT.parent / "shared/data/bitext/bitext-v1.jsonl"
OUT = ROOT / "bench/out/classifier.json"
# E-mail boilerplate written for this benchmark: it carries no label, like real greetings.
FILLER = [
    "Hello team,",
    "Hi there,",
    "Good morning,",
    "I hope you are doing well.",
    "I have been a customer for several years and usually everything works fine.",
    "I tried to find the answer on your website but could not.",
    "Thanks in advance for your help.",
    "Best regards, John",
    "Kind regards, Maria",
    "This is the second time I am writing about this.",
    "Please get back to me when you can.",
    "I am writing from my phone so sorry for any typos.",
    "My colleague told me to contact you directly.",
    "Let me know if you need any more information from me.",
    "I attached a screenshot in case it helps.",
]
PRODUCTS = ["laptop", "phone", "tablet"]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def typos(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 20)):
        i = rng.randrange(len(chars))
        op = rng.random()
        if op < 0.33:
            del chars[i]
        elif op < 0.66 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz"))
    return "".join(chars)


def email(text: str, rng: random.Random) -> str:
    parts = rng.sample(FILLER, rng.randint(4, 8))
    parts.insert(rng.randint(1, len(parts)), text)
    return " ".join(parts)


def bitext() -> list[dict[str, str]]:
    """The Bitext rows, shuffled (the file is grouped by label) with a fixed seed."""
    if not BITEXT.is_file():
        sys.exit(f"Bitext sample not found at {BITEXT}")
    rows = [json.loads(line) for line in BITEXT.read_text(encoding="utf-8").splitlines()]
    random.Random(0).shuffle(rows)
    return rows


def perturbed(rows: list[dict[str, str]], n: int, seed: int = 0) -> list[LabelledExample]:
    """n tickets by category from Bitext: typos everywhere, half wrapped in an e-mail."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        text = typos(row["description"], rng)
        out.append(
            LabelledExample(
                description=email(text, rng) if i % 2 else text, category=row["category"]
            )
        )
    return out


def emails_81(rows: list[dict[str, str]], n: int, seed: int = 0) -> list[LabelledExample]:
    """n e-mail-length tickets labelled intent x product: 81 labels."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row, product = rows[i % len(rows)], rng.choice(PRODUCTS)
        text = email(typos(f"{row['description']} for my {product}", rng), rng)
        out.append(LabelledExample(description=text, category=f"{row['intent']}.{product}"))
    return out


def saturating(n: int, labels: int = 80, seed: int = 0) -> list[LabelledExample]:
    """Pseudo-word tickets with a huge vocabulary: every feature slot gets used."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(60_000)]
    out = []
    for i in range(n):
        label = i % labels
        topic = [words[label * 50 + j] for j in rng.integers(0, 50, 8)]
        noise = [words[j] for j in rng.integers(0, len(words), 40)]
        out.append(
            LabelledExample(description=" ".join(topic + noise), category=f"label-{label:02d}")
        )
    return out


def split_eval(examples: list[LabelledExample], seed: int = 7) -> dict[str, Any]:
    """Train on a stratified 80%, evaluate on the held-back 20%."""
    train_idx, test_idx = stratified_split([e.category for e in examples], 0.2, seed)
    (model, report), wall, cpu = timed(lambda: train_model([examples[i] for i in train_idx]))
    result = evaluate(LocalClassifier(model), [examples[i] for i in test_idx])
    return {
        "labels": len(report.labels),
        "train": len(train_idx),
        "test": len(test_idx),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
    }


def project_samples() -> dict[str, Any] | None:
    """The default model (trained on the bundled samples) on the samples held out from it."""
    from pipeline.samples import is_holdout, load_sample_tickets

    try:
        tickets = load_sample_tickets()
    except FileNotFoundError:
        return None
    examples = [
        LabelledExample(
            subject=t.subject,
            description=t.description,
            category=t.category,
            urgency=normalise_urgency(t.urgency),
        )
        for t in tickets
    ]
    held = [is_holdout(t.external_id) for t in tickets]
    train = [e for e, h in zip(examples, held, strict=True) if not h]
    test = [e for e, h in zip(examples, held, strict=True) if h]
    (model, report), wall, cpu = timed(lambda: train_model(train))
    result = evaluate(LocalClassifier(model), test)
    return {
        "labels": len(report.labels),
        "train": len(train),
        "test": len(test),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "val_accuracy": round(report.val_accuracy or 0.0, 4),
        "urgency_accuracy": round(result.urgency_accuracy or 0.0, 4),
        "urgency_source": report.urgency_source,
        "train_wall_s": round(wall, 2),
        "train_cpu_s": round(cpu, 2),
    }


def train_and_size(examples: list[LabelledExample], directory: Path, name: str) -> dict[str, Any]:
    (model, report), wall, cpu = timed(lambda: train_model(examples))
    path = directory / f"{name}.model"
    write_model(model, path)
    _, load_wall, _ = timed(lambda: load_local_classifier(path))
    return {
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


def throughput(
    classifier: LocalClassifier, texts: Sequence[str], batch: int = 1000
) -> dict[str, Any]:
    tickets = [TicketText(description=t) for t in texts]
    classifier.classify_many(tickets[:50])  # warm: language model loaded, caches filled

    def run() -> None:
        for start in range(0, len(tickets), batch):
            classifier.classify_many(tickets[start : start + batch])

    _, wall, cpu = timed(run)
    return {
        "tickets": len(tickets),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "per_cpu_second": round(len(tickets) / cpu),
        "per_wall_second": round(len(tickets) / wall),
    }


def latency(classifier: LocalClassifier, texts: Sequence[str]) -> dict[str, Any]:
    """One ticket per call: wall and CPU milliseconds (CPU is what contention cannot inflate)."""
    walls, cpus = [], []
    for text in texts:
        ticket = TicketText(description=text)
        wall, cpu = time.perf_counter(), time.process_time()
        classifier.classify(ticket)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return {
        "tickets": len(walls),
        "p50_ms": round(float(np.percentile(walls, 50)), 3),
        "p95_ms": round(float(np.percentile(walls, 95)), 3),
        "max_ms": round(max(walls), 3),
        "cpu_p50_ms": round(float(np.percentile(cpus, 50)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpus, 95)), 3),
    }


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
