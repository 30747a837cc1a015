"""Before a process starts, and around every command: problems said in one line, not a traceback.

- every `triage` command warns about `TRIAGE_*` names that are no setting (a typo is
  otherwise silently ignored);
- `triage api|worker|beat` refuse to start (exit 2, one line per problem) when they could
  not do their job: store, broker, classifier, pepper;
- an outage of the store, Redis or the broker met by any command is one line and exit 1.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.urls import redact_url
from pipeline.operations.doctor import (
    CheckResult,
    Verdict,
    check_broker,
    check_classifier,
    check_helpdesks,
    check_pepper,
    configured_env_files,
    unknown_name_lines,
)
from pipeline.settings import Settings
from pipeline.wiring import Services, build_health_probes, llm_key_problem

# Exit statuses: a process that cannot do its job (configuration) vs. a server that is down.
EXIT_UNUSABLE = 2
EXIT_OUTAGE = 1


def warn_unknown_settings() -> None:
    """One stderr line per `TRIAGE_*` name (environment or dotenv file) that is no setting."""
    for line in unknown_name_lines(os.environ, configured_env_files()):
        click.echo(f"triage: warning: {line}", err=True)


def refuse(role: str, lines: list[str]) -> NoReturn:
    """Print each line as `triage ROLE: line` on stderr and exit 2."""
    for line in lines:
        click.echo(f"triage {role}: {line}", err=True)
    sys.exit(EXIT_UNUSABLE)


def _store_check(services: Services) -> CheckResult:
    # Opening the store migrates an empty database and refuses a stale one, as the process
    # itself would a moment later.
    from pipeline.store import STORE_OUTAGES
    from pipeline.store.health import store_error_line

    try:
        services.store  # noqa: B018 -- opened now, kept for the process
    except STORE_OUTAGES as error:
        return CheckResult("store", Verdict.fail, store_error_line(_db_url(services), error))
    except ConfigurationError as error:  # a stale schema: the message names `triage db upgrade`
        return CheckResult("store", Verdict.fail, str(error))
    return CheckResult("store", Verdict.ok, "open")


def _db_url(services: Services) -> str:
    return services.settings.database_url


def preflight(role: str, services: Services) -> None:
    """Run the checks without which `role` (api, worker, beat) is useless; exit 2 on any failure.

    The services opened here (the store, the classifier) are the ones the process goes on
    to use: nothing is loaded twice.
    """
    settings = services.settings
    probes = build_health_probes(services)
    checks: list[Callable[[], CheckResult]] = {
        "api": [
            lambda: _store_check(services),
            lambda: _pepper_check(settings),
            lambda: _llm_keys_check(settings),
        ],
        "worker": [
            lambda: _store_check(services),
            lambda: check_broker(settings, probes),
            lambda: check_classifier(probes),
            lambda: check_helpdesks(settings),
        ],
        "beat": [lambda: check_broker(settings, probes)],
    }[role]
    failed = [result.text() for result in (check() for check in checks) if not result.ok]
    if failed:
        refuse(role, failed)


def _llm_keys_check(settings: Settings) -> CheckResult:
    # The API classifies nothing, but a worker fleet sharing its .env would: say it at once.
    problem = llm_key_problem(settings)
    if problem is not None:
        return CheckResult("classifier", Verdict.fail, problem)
    return CheckResult("classifier", Verdict.ok, "every LLM provider has its key")


def _pepper_check(settings: Settings) -> CheckResult:
    result = check_pepper(settings)
    if result.verdict is Verdict.ok:
        return result
    # The doctor only warns (a worker host needs no pepper); the API cannot check a key without.
    return CheckResult(result.name, Verdict.fail, "TRIAGE_API_KEY_PEPPER is not set", result.fix)


class TriageGroup(click.Group):
    """The `triage` group: a configuration problem or an outage is one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; turn the known failures into one line and an exit status."""
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except ValidationError as error:
            if error.title != Settings.__name__:
                raise
            _exit_with(settings_error_line(error), EXIT_UNUSABLE)
        except ConfigurationError as error:
            _exit_with(str(error), EXIT_UNUSABLE)
        except Exception as error:
            line = outage_line(error)
            if line is None:
                raise
            _exit_with(line, EXIT_OUTAGE)


def _exit_with(line: str, status: int) -> NoReturn:
    click.echo(f"triage: {line}", err=True)
    sys.exit(status)


def outage_line(error: BaseException) -> str | None:
    """One actionable line for a store, Redis or broker outage (None: `error` is none of them)."""
    from kombu.exceptions import OperationalError as BrokerOutage

    from pipeline.adapters.probes import REDIS_OUTAGES
    from pipeline.store import STORE_OUTAGES
    from pipeline.store.health import store_error_line

    settings = _settings_or_none()
    if isinstance(error, STORE_OUTAGES):
        url = settings.database_url if settings else "TRIAGE_DATABASE_URL"
        return store_error_line(url, error)
    if isinstance(error, REDIS_OUTAGES):
        url = (settings.shared_redis_url() if settings else None) or "TRIAGE_REDIS_URL"
        return (
            f"Redis at {redact_url(url)} is unreachable ({_first_line(error)}): start Redis or "
            "set TRIAGE_REDIS_URL (default: TRIAGE_BROKER_URL)"
        )
    if isinstance(error, BrokerOutage):
        url = settings.broker_url if settings else "TRIAGE_BROKER_URL"
        return (
            f"the broker at {redact_url(url)} is unreachable ({_first_line(error)}): start it "
            "or set TRIAGE_BROKER_URL"
        )
    return None


def settings_error_line(error: Exception) -> str:
    """A settings validation error as one line naming each variable to fix."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    problems = []
    for item in error.errors():
        name = "TRIAGE_" + "_".join(str(part) for part in item["loc"][:1]).upper()
        problems.append(f"{name}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems) + " (fix the environment or .env)"


def _settings_or_none() -> Settings | None:
    try:
        return Settings()
    except Exception:  # the settings are what broke: name nothing from them
        return None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:200]


def beat_schedule_path(settings: Settings) -> Path:
    """Beat's state file for this install (its database and broker), in the user's cache dir.

    Not the working directory (it does not belong in a checkout), and not one path for the
    whole host: two installs would each see the other's last run times and skip their sweeps.
    """
    install = f"{settings.database_url}\n{settings.broker_url}".encode()
    cache = Path.home() / ".cache" / "ticket-triage"
    cache.mkdir(parents=True, exist_ok=True)
    return cache / f"celerybeat-schedule-{hashlib.sha256(install).hexdigest()[:12]}"
