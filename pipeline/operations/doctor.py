"""`triage doctor`'s checks: each looks at one thing a process needs and says what to do."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.domain.errors import describe_error
from pipeline.domain.routing import load_routing
from pipeline.domain.urls import redact_url
from pipeline.ports import HealthProbes
from pipeline.settings import Settings, env_file_path, unknown_setting_names


class Verdict(StrEnum):
    """A check's outcome: only `fail` makes the doctor (and a start-up check) fail."""

    ok = "ok"
    warn = "warn"
    fail = "FAIL"
    skip = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One check: what was looked at, the verdict, one line of detail, and what to do."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        """True unless the check failed (a warning or a skip still lets a process start)."""
        return self.verdict is not Verdict.fail

    def text(self) -> str:
        """What was found, then what to do: `detail: fix`."""
        return self.detail + (f": {self.fix}" if self.fix else "")


# --- settings: names that are no setting ---------------------------------------------------

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def env_file_names(path: Path) -> list[str]:
    """The variable names a dotenv file assigns (nothing when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [m.group(1) for line in text.splitlines() if (m := _ASSIGNMENT.match(line))]


def configured_env_files() -> list[Path]:
    """The dotenv file the settings read besides the environment, if any."""
    path = env_file_path()
    return [] if path is None else [path]


def unknown_name_lines(environ: Mapping[str, str], env_files: Iterable[Path]) -> list[str]:
    """One line per `TRIAGE_*` name that is no setting, with a did-you-mean when one is close."""
    places: list[tuple[str, Iterable[str]]] = [("the environment", environ)]
    places += [(str(path), env_file_names(path)) for path in env_files]
    lines = []
    for where, names in places:
        for name, close in unknown_setting_names(names):
            hint = f"did you mean {close}?" if close else "see docs/settings.md for the names"
            lines.append(f"{name} (in {where}) is not a setting and is ignored: {hint}")
    return lines


def check_settings(environ: Mapping[str, str], env_files: Sequence[Path]) -> CheckResult:
    """Every `TRIAGE_*` name in the environment and the dotenv file is a setting."""
    lines = unknown_name_lines(environ, env_files)
    if not lines:
        return CheckResult("settings", Verdict.ok, "every TRIAGE_* name is a setting")
    return CheckResult("settings", Verdict.fail, "; ".join(lines))


# --- servers -------------------------------------------------------------------------------


def check_store(probes: HealthProbes) -> CheckResult:
    """The store answers, and its schema is the code's (or empty: the first process migrates)."""
    state = probes.store_schema()
    if state.error is not None:
        return CheckResult("store", Verdict.fail, state.error)
    if state.current == state.head:
        return CheckResult("store", Verdict.ok, f"reachable, schema at {state.head}")
    if state.holds_tickets:
        return CheckResult(
            "store",
            Verdict.fail,
            f"schema at {state.current or 'no revision'} holds tickets, this version needs "
            f"{state.head}",
            "run `triage db upgrade` (after a backup)",
        )
    return CheckResult(
        "store", Verdict.ok, "reachable and empty (the first process to start migrates it)"
    )


def check_broker(settings: Settings, probes: HealthProbes) -> CheckResult:
    """The broker answers (the in-memory transport needs nothing)."""
    url = settings.broker_url
    if url.startswith("memory://"):
        return CheckResult("broker", Verdict.warn, "in-memory transport: only for one process")
    problem = probes.reach(url)
    if problem is not None:
        return CheckResult(
            "broker",
            Verdict.fail,
            f"the broker at {redact_url(url)} is unreachable ({problem})",
            "start it or set TRIAGE_BROKER_URL",
        )
    return CheckResult("broker", Verdict.ok, f"{redact_url(url)} reachable")


def check_redis(settings: Settings, probes: HealthProbes) -> CheckResult:
    """The Redis that holds shared counters answers, when there is one."""
    url = settings.shared_redis_url()
    if url is None:
        return CheckResult("Redis", Verdict.skip, "none configured: counters are per process")
    problem = probes.reach(url)
    if problem is not None:
        return CheckResult(
            "Redis",
            Verdict.fail,
            f"Redis at {redact_url(url)} is unreachable ({problem})",
            "start Redis or set TRIAGE_REDIS_URL (default: the broker's URL)",
        )
    return CheckResult("Redis", Verdict.ok, f"{redact_url(url)} answers PING")


def check_classifier(probes: HealthProbes) -> CheckResult:
    """The configured classifier builds: its model loads, an LLM provider has its key."""
    try:
        name = probes.classifier()
    except Exception as error:  # a doctor reports what breaks; it must not break itself
        text = str(error) or describe_error(error)
        # The wiring's own messages already name the variable to set.
        fix = "" if "TRIAGE_" in text else "check TRIAGE_CLASSIFIER and TRIAGE_LOCAL_MODEL"
        return CheckResult("classifier", Verdict.fail, text, fix)
    return CheckResult("classifier", Verdict.ok, f"loads: {name}")


def check_llm_budget(settings: Settings, probes: HealthProbes) -> CheckResult:
    """TRIAGE_LLM_MONTHLY_BUDGET against the month's spend (warn once it is reached)."""
    budget = settings.llm_monthly_budget
    if budget is None:
        return CheckResult("LLM budget", Verdict.ok, "no monthly cap (TRIAGE_LLM_MONTHLY_BUDGET)")
    try:
        spent = probes.llm_month_spend()
    except Exception as error:  # Redis or the store down: said by their own checks
        return CheckResult("LLM budget", Verdict.warn, f"spend unknown ({describe_error(error)})")
    text = f"${spent:.2f} of ${budget:.2f} spent this month"
    if spent >= budget:
        return CheckResult(
            "LLM budget",
            Verdict.warn,
            f"monthly budget reached: {text}; the LLM tiers are skipped",
            "raise TRIAGE_LLM_MONTHLY_BUDGET or wait for next month (TRIAGE_LLM_FALLBACKS answers)",
        )
    return CheckResult("LLM budget", Verdict.ok, text)


def check_routing(settings: Settings, probes: HealthProbes) -> CheckResult:
    """The routing file is valid and every department endpoint accepts a connection."""
    where = str(settings.routing_file or "the bundled default")
    try:
        table = load_routing(settings.routing_file)
    except Exception as error:  # a ConfigurationError, or anything a broken file raises
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return CheckResult("routing", Verdict.fail, first, "fix TRIAGE_ROUTING_FILE")
    endpoints = {
        name: str(d.endpoint) for name, d in sorted(table.departments.items()) if d.endpoint
    }
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints) or 1)) as pool:
        problems = dict(zip(endpoints, pool.map(probes.reach, endpoints.values()), strict=True))
    # Grouped by what went wrong: usually one receiver host down behind several departments.
    down: dict[str, list[str]] = {}
    for name, why in problems.items():
        if why:
            down.setdefault(why, []).append(name)
    if down:
        return CheckResult(
            "routing",
            Verdict.fail,
            f"{where}: endpoints unreachable: "
            + "; ".join(f"{why} for {', '.join(names)}" for why, names in down.items()),
            "start the receivers (`triage receiver`) or fix the endpoints",
        )
    shown = f"{len(endpoints)} endpoints reachable" if endpoints else "no endpoints (store only)"
    return CheckResult(
        "routing", Verdict.ok, f"{where}: {len(table.categories)} categories, {shown}"
    )


def check_helpdesks(settings: Settings) -> CheckResult:
    """Every helpdesk the routing file writes back to has its credentials set."""
    from pipeline.helpdesks.credentials import credential_problem

    try:
        helpdesks = load_routing(settings.routing_file).helpdesks()
    except Exception:  # a broken routing file is check_routing's line, not this one's
        return CheckResult("write-back", Verdict.ok, "skipped: the routing file does not load")
    problem = credential_problem(settings, helpdesks)
    if problem is not None:
        return CheckResult("write-back", Verdict.fail, problem, "set them (see the README)")
    shown = ", ".join(sorted(helpdesks)) or "none"
    return CheckResult("write-back", Verdict.ok, f"helpdesks: {shown}")


# --- secrets -------------------------------------------------------------------------------


def check_pepper(settings: Settings) -> CheckResult:
    """The API key pepper is set (`triage api` and `triage keys` refuse to start without it)."""
    if settings.api_key_pepper is None or not settings.api_key_pepper.get_secret_value():
        return CheckResult(
            "API keys",
            Verdict.warn,
            "TRIAGE_API_KEY_PEPPER is not set (`triage api` and `triage keys` need it)",
            "set it once, e.g. to `openssl rand -hex 32`, and keep it (a new one voids every key)",
        )
    return CheckResult("API keys", Verdict.ok, "TRIAGE_API_KEY_PEPPER is set")


def check_flower(settings: Settings) -> CheckResult:
    """Flower's basic auth is set, as user:password."""
    auth = settings.flower_basic_auth
    if auth is None:
        return CheckResult(
            "Flower",
            Verdict.warn,
            "TRIAGE_FLOWER_BASIC_AUTH is not set (Flower does not start without it)",
            "set it to user:password to use Flower",
        )
    if ":" not in auth.get_secret_value():
        return CheckResult(
            "Flower", Verdict.fail, "TRIAGE_FLOWER_BASIC_AUTH is not user:password", "fix it"
        )
    return CheckResult("Flower", Verdict.ok, "basic auth set")


def run_doctor(
    settings: Settings,
    probes: HealthProbes,
    environ: Mapping[str, str],
    env_files: Sequence[Path],
) -> list[CheckResult]:
    """Every check, in the order a person would fix things (the LLM budget when one is set)."""
    budget = [check_llm_budget(settings, probes)] if settings.llm_monthly_budget else []
    return [
        check_settings(environ, env_files),
        check_store(probes),
        check_broker(settings, probes),
        check_redis(settings, probes),
        check_classifier(probes),
        *budget,
        check_routing(settings, probes),
        check_helpdesks(settings),
        check_pepper(settings),
        check_flower(settings),
    ]
