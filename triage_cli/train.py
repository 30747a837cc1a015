"""`triage train`: fit the local model on a labelled file or the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage_cli.progress import tracking

if TYPE_CHECKING:
    from pipeline.classifiers.local.labelled_files import LabelledFile

# The training modules (scikit-learn: ~64 MiB and 1.4 s) are imported by these commands only,
# not by every `triage api` or `triage worker` that merely loads this CLI.

DEFAULT_MODEL = Path("models/local.model")
MAP_HELP = "rename the file's columns to ours: description=body,category=label"


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


@click.command("train")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option(
    "--from-store",
    is_flag=True,
    help="learn from tickets with a known category in TRIAGE_DATABASE_URL instead",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_MODEL,
    show_default=True,
)
@click.option("--map", "column_map", default=None, metavar="OURS=THEIRS,...", help=MAP_HELP)
@click.option("--val-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--seed", default=0, show_default=True, help="seed of the validation split")
def train_command(
    file: Path | None,
    from_store: bool,
    out: Path,
    column_map: str | None,
    val_fraction: float,
    seed: int,
) -> None:
    """Train the local classifier on a labelled CSV/JSONL file (gzip accepted), or the store."""
    from pipeline.classifiers.local.labelled_examples import TrainingError
    from pipeline.classifiers.local.model_file import write_model
    from pipeline.classifiers.local.training import TRAINING_STEPS, train_model

    if from_store == (file is not None):
        raise UsageFailure("give a FILE or --from-store (one of them)")
    if from_store:
        from pipeline.classifiers.local.store_examples import labelled_examples_from_store
        from pipeline.settings import Settings
        from pipeline.wiring import open_store

        examples = labelled_examples_from_store(open_store(Settings()))
        click.echo(
            f"read {len(examples)} tickets with a confirmed or known category from the store"
        )
    else:
        assert file is not None
        examples = _read(file, column_map).examples
        click.echo(f"read {len(examples)} labelled tickets from {file}")
    with tracking("train", total=len(TRAINING_STEPS), unit="steps", show_rate=False) as bar:

        def on_step(name: str) -> None:
            bar.update(count=TRAINING_STEPS.index(name), detail=name)

        try:
            model, report = train_model(
                examples, val_fraction=val_fraction, seed=seed, on_step=on_step
            )
        except TrainingError as exc:
            raise UsageFailure(str(exc)) from exc
    click.echo(
        f"held-back validation ({report.val_size} tickets, stratified): "
        f"accuracy={_fmt(report.val_accuracy)} macro_f1={_fmt(report.val_macro_f1)}"
    )
    urgency = f"urgency: {report.urgency_source}"
    if report.rules_val_accuracy is not None:
        urgency += (
            f" (validation: learned {_fmt(report.urgency_val_accuracy)}, "
            f"rules {_fmt(report.rules_val_accuracy)})"
        )
    click.echo(urgency)
    try:
        write_model(model, out)
    except OSError as exc:
        raise UsageFailure(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(
        f"refit on all {report.trained_on} tickets: {report.n_features} features, "
        f"temperature {report.temperature:.3f}, {report.seconds:.1f} s; "
        f"{model.version} ({out.stat().st_size / 1e6:.1f} MB)"
    )
    click.echo(
        f"model written to {out} labels={len(report.labels)} trained_on={report.trained_on} "
        f"val_accuracy={_fmt(report.val_accuracy)}"
    )
