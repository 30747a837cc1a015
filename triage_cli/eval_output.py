"""What `triage eval` prints: one classifier in detail, several side by side, or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from triage_cli.train import _fmt

if TYPE_CHECKING:
    from pipeline.operations.evaluation_gate import GateReport


def print_json(
    reports: list[GateReport],
    n: int,
    overlap: int | None,
    fail_under: float | None,
    failed: list[GateReport],
) -> None:
    # The first classifier's figures stay at the top level, as before several could be named.
    first = reports[0].as_dict()
    body = {
        **first,
        "n": n,
        "training_overlap": overlap,
        "fail_under": fail_under,
        "passed": not failed,
        "classifiers": {r.name: r.as_dict() for r in reports},
    }
    click.echo(json.dumps(body))


def print_evaluation(report: GateReport) -> None:
    result = report.evaluation
    click.echo(f"model {report.model} on {result.n} tickets")
    if result.unknown_labels:
        shown = ", ".join(result.unknown_labels[:8])
        click.echo(f"warning: {len(result.unknown_labels)} labels the model never learned: {shown}")
    width = max([len(label) for label in result.per_label] + [8])
    click.echo(f"{'category':<{width}}  precision  recall     f1  support")
    for label, s in result.per_label.items():
        click.echo(
            f"{label:<{width}}  {s['precision']:9.3f}  {s['recall']:6.3f}  {s['f1']:5.3f}"
            f"  {int(s['support']):7d}"
        )
    if result.confusions:
        click.echo("most frequent confusions (true -> predicted):")
        for true, predicted, count in result.confusions:
            click.echo(f"  {true} -> {predicted}: {count}")
    if result.ece is not None and result.above_threshold_share is not None:
        click.echo(
            f"calibration: ECE={result.ece:.3f}; confidence >= {result.threshold:.2f} for "
            f"{result.above_threshold_share:.1%} of tickets, accuracy there "
            f"{_fmt(result.above_threshold_accuracy)} (the rest would go to review)"
        )
    click.echo(_review_line(report))
    if report.target_precision is not None:
        click.echo(_target_line(report))
    click.echo(_cost_line(report))
    if result.urgency_accuracy is not None:
        click.echo(f"urgency accuracy={result.urgency_accuracy:.3f}")
    click.echo(f"accuracy={result.accuracy:.3f} macro_f1={result.macro_f1:.3f} n={result.n}")


def _review_line(r: GateReport) -> str:
    point = r.at_threshold
    return (
        f"review threshold {point.threshold:.2f} ({r.threshold_source}): coverage "
        f"{point.coverage:.3f} precision {_fmt(point.precision)}"
    )


def _target_line(r: GateReport) -> str:
    if r.target is None:
        return f"target precision {r.target_precision:.2f}: no threshold reaches it"
    return (
        f"target precision {r.target_precision:.2f}: threshold {r.target.threshold:.3f} "
        f"coverage {r.target.coverage:.3f} precision {_fmt(r.target.precision)}"
    )


def _cost_line(r: GateReport) -> str:
    s = r.stats
    cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    return (
        f"llm requests={s.requests} cache_hits={s.cache_hits} tokens="
        f"{s.prompt_tokens + s.output_tokens} cost={cost} errors={s.errors}; latency per ticket "
        f"p50={_ms(s.latency_ms(50))} p95={_ms(s.latency_ms(95))}"
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}ms"


HEADER = (
    "classifier  accuracy  macro_f1  threshold  coverage  precision  requests   tokens  "
    "cost_usd   p50_ms   p95_ms  errors"
)


def print_table(reports: list[GateReport], n: int) -> None:
    click.echo(f"{len(reports)} classifiers on {n} tickets")
    click.echo(HEADER)
    for r in reports:
        s, point = r.stats, r.at_threshold
        cost = "unknown" if s.cost_usd is None else f"{s.cost_usd:.4f}"
        p50, p95 = s.latency_ms(50), s.latency_ms(95)
        click.echo(
            f"{r.name:<10}  {r.evaluation.accuracy:8.3f}  {r.evaluation.macro_f1:8.3f}  "
            f"{point.threshold:9.2f}  {point.coverage:8.3f}  {_fmt(point.precision):>9}  "
            f"{s.requests:8d}  {s.prompt_tokens + s.output_tokens:7d}  {cost:>8}  "
            f"{_fmt1(p50):>7}  {_fmt1(p95):>7}  {s.errors:6d}"
        )
    for r in reports:
        click.echo(f"{r.name}: {r.model}; {_review_line(r)}")
        if r.target_precision is not None:
            click.echo(f"{r.name}: {_target_line(r)}")


def _fmt1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
