"""`triage eval`: score a classifier on a labelled file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.domain.errors import ConfigurationError
from triage_cli.progress import tracking
from triage_cli.train import MAP_HELP, UsageFailure, _fmt, _read

if TYPE_CHECKING:
    from pipeline.classifiers.local.evaluation import Evaluation

# Tickets per classify_many call in `triage eval`: large enough to stay vectorised, small
# enough that the progress display moves on a slow (LLM) classifier.
EVAL_BATCH = 512


@click.command("eval")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="TRIAGE_LOCAL_MODEL",
    help="model file [default: TRIAGE_LOCAL_MODEL, else the model of the bundled samples]",
)
@click.option("--map", "column_map", default=None, metavar="OURS=THEIRS,...", help=MAP_HELP)
@click.option(
    "--threshold",
    default=0.55,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="review threshold to report coverage and accuracy at",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead")
def eval_command(
    file: Path, model_path: Path | None, column_map: str | None, threshold: float, as_json: bool
) -> None:
    """Score the local classifier on a labelled file: accuracy, macro-F1, confusions."""
    from pipeline.classifiers.local.classifier import load_local_classifier
    from pipeline.classifiers.local.evaluation import evaluate
    from pipeline.classifiers.local.model import ModelFileError

    examples = _read(file, column_map).examples
    try:
        classifier = load_local_classifier(model_path)
    except (ModelFileError, ConfigurationError) as exc:
        raise UsageFailure(str(exc)) from exc
    with tracking("eval", total=len(examples), unit="tickets") as bar:
        result = evaluate(
            classifier,
            examples,
            batch_size=EVAL_BATCH,
            threshold=threshold,
            on_batch=lambda done: bar.update(count=done),
        )
    if as_json:
        click.echo(json.dumps({"model": classifier.model_version, **result.as_dict()}))
        return
    _print_evaluation(result, classifier.model_version)


def _print_evaluation(result: Evaluation, model_version: str) -> None:
    click.echo(f"model {model_version} on {result.n} tickets")
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
    if result.urgency_accuracy is not None:
        click.echo(f"urgency accuracy={result.urgency_accuracy:.3f}")
    click.echo(f"accuracy={result.accuracy:.3f} macro_f1={result.macro_f1:.3f} n={result.n}")
