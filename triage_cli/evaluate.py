"""`triage eval`: score one or more classifiers on a labelled file, side by side; a CI gate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.domain.errors import ConfigurationError
from triage_cli.eval_output import print_evaluation, print_json, print_table
from triage_cli.progress import tracking
from triage_cli.train import MAP_HELP, UsageFailure, _read

if TYPE_CHECKING:
    from pipeline.classifiers.cost import CostMeter
    from pipeline.classifiers.local.classifier import LocalClassifier
    from pipeline.classifiers.local.labelled_examples import LabelledExample
    from pipeline.ports import Classifier
    from pipeline.settings import Settings

CHOICES = ("local", "gemini", "openai", "anthropic", "cascade")


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
@click.option(
    "--classifier",
    "choices",
    multiple=True,
    type=click.Choice(CHOICES),
    help="classifier to score (repeat to compare side by side) [default: local]",
)
@click.option("--map", "column_map", default=None, metavar="OURS=THEIRS,...", help=MAP_HELP)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help='map the file\'s label values to ours first: JSON {"theirs": "ours"} or a CSV theirs,ours',
)
@click.option("--casefold", is_flag=True, help="compare labels case-insensitively (as trained)")
@click.option(
    "--threshold",
    default=None,
    type=click.FloatRange(0, 1),
    help="review threshold to report coverage and precision at [default: the local model's "
    "stored one, else TRIAGE_CONFIDENCE_THRESHOLD]",
)
@click.option(
    "--target-precision",
    default=None,
    type=click.FloatRange(0, 1),
    help="also print the threshold whose decisions reach this precision, and its coverage",
)
@click.option(
    "--fail-under",
    default=None,
    type=click.FloatRange(0, 1),
    help="exit 1 when any classifier's accuracy is below this (a CI gate)",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead")
def eval_command(
    file: Path,
    model_path: Path | None,
    choices: tuple[str, ...],
    column_map: str | None,
    labels_file: Path | None,
    casefold: bool,
    threshold: float | None,
    target_precision: float | None,
    fail_under: float | None,
    as_json: bool,
) -> None:
    """Score classifiers on a labelled file: accuracy, macro-F1, review coverage, cost, latency."""
    from pipeline.classifiers.local.classifier import load_local_classifier
    from pipeline.classifiers.local.model import ModelFileError
    from pipeline.domain.classification import TicketText
    from pipeline.operations.evaluation_gate import below, review_threshold, run_classifier
    from pipeline.operations.evaluation_gate import score_run as score
    from pipeline.settings import Settings
    from triage_cli.train import _relabel

    examples = _relabel(_read(file, column_map).examples, labels_file, casefold)
    settings = Settings()
    names = list(dict.fromkeys(choices or ("local",)))
    try:
        local = load_local_classifier(model_path)
    except (ModelFileError, ConfigurationError) as exc:
        raise UsageFailure(str(exc)) from exc
    classifiers = {name: _build(name, settings, local) for name in names}
    overlap = _training_overlap(local, examples)
    if overlap:
        click.echo(
            f"warning: {overlap} of {len(examples)} rows of {file.name} were in the model's "
            "training set: its scores on them overstate held-out accuracy",
            err=True,
        )
    tickets = [TicketText(subject=e.subject, description=e.description) for e in examples]
    configured = settings.confidence_threshold if threshold is None else threshold
    source = "TRIAGE_CONFIDENCE_THRESHOLD" if threshold is None else "--threshold"
    reports = []
    for name, classifier in classifiers.items():
        label = "eval" if len(classifiers) == 1 else f"eval {name}"
        with tracking(label, total=len(tickets), unit="tickets") as bar:
            run = run_classifier(classifier, tickets, on_progress=lambda n: bar.update(count=n))
        at, why = (
            (threshold, source)
            if threshold is not None
            else review_threshold(classifier, configured)
        )
        reports.append(
            score(
                name,
                classifier.model_version,
                examples,
                run,
                threshold=at,
                threshold_source=source if why == "configured" else why,
                target_precision=target_precision,
                labels=local.labels if name == "local" else (),
            )
        )
    failed = below(reports, fail_under)
    if as_json:
        print_json(reports, len(examples), overlap, fail_under, failed)
    elif len(reports) == 1:
        print_evaluation(reports[0])
    else:
        print_table(reports, len(examples))
    if failed:
        shown = ", ".join(f"{r.name} {r.evaluation.accuracy:.3f}" for r in failed)
        click.echo(f"eval: accuracy below --fail-under {fail_under:.3f}: {shown}", err=True)
        sys.exit(1)


def _build(name: str, settings: Settings, local: LocalClassifier) -> Classifier:
    """The classifier `--classifier NAME` means, through the composition root."""
    if name == "local":
        return local
    from pipeline.domain.routing import load_routing
    from pipeline.settings import ClassifierChoice
    from pipeline.wiring.classifiers import build_classifier, llm_key_problem

    # Only this classifier's own provider matters here: not the fallbacks, nor backfill's.
    chosen = settings.model_copy(
        update={
            "classifier": ClassifierChoice(name),
            "backfill_classifier": None,
            "llm_fallbacks": "local",
        }
    )
    problem = llm_key_problem(chosen)
    if problem is not None:
        raise UsageFailure(problem.replace("TRIAGE_CLASSIFIER=", "--classifier ", 1))
    try:
        return build_classifier(
            chosen, load_routing(settings.routing_file), local, _meter(settings)
        )
    except ConfigurationError as exc:
        raise UsageFailure(str(exc)) from exc


def _meter(settings: Settings) -> CostMeter:
    """Prices the calls; with a shared Redis they count in the month's ledger like any other."""
    from pipeline.wiring import Services

    if settings.shared_redis_url():
        return Services(settings).meter
    from pipeline.adapters.llm_spend import MemorySpendLedger
    from pipeline.classifiers.cost import CostMeter
    from pipeline.domain.pricing import price_table

    prices = price_table(settings.price_overrides())
    return CostMeter(prices, MemorySpendLedger(), monthly_budget=settings.llm_monthly_budget)


def _training_overlap(local: LocalClassifier, examples: list[LabelledExample]) -> int | None:
    """Rows of the file the model was trained on (None: the model keeps no fingerprint)."""
    overlap = getattr(local, "training_overlap", None)
    return int(overlap(examples)) if callable(overlap) else None
