"""`triage doctor`: every check a running system depends on, one line each with what to do."""

from __future__ import annotations

import os
import sys

import click

from pipeline.operations.doctor import Verdict, configured_env_files, run_doctor
from pipeline.settings import Settings


@click.command()
def doctor() -> None:
    """Check settings, store, broker, Redis, classifier, routing, secrets; exit 1 if any fails."""
    from pipeline.wiring import Services, build_health_probes

    settings = Settings()
    services = Services(settings)
    results = run_doctor(
        settings, build_health_probes(services), os.environ, configured_env_files()
    )
    width = max(len(r.name) for r in results)
    for result in results:
        click.echo(f"{result.verdict.value:<5} {result.name:<{width}}  {result.text()}")
    failed = [r.name for r in results if r.verdict is Verdict.fail]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}")
        sys.exit(1)
    click.echo(f"all {len(results)} checks passed")
