"""The production stack (compose, Dockerfile, Prometheus, Grafana) agrees with the code it runs.

No Docker engine is needed: the files are parsed and checked against the click commands, the
settings object and the metrics module. Each check is a function returning its problems, so
every one is run on the real files (no problems) and on a deliberately broken copy (some).
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast
from unittest import mock

import click
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from pydantic import ValidationError
from sqlalchemy.engine import make_url

import pipeline.telemetry.metrics
from pipeline.adapters.queue_depths import UnknownQueueDepths
from pipeline.domain.lifecycle import Queue
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.telemetry.metrics import PipelineStateCollector

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"

PROJECT_SERVICES = ("migrate", "api", "worker-live", "worker-backfill", "beat", "flower")
INFRA_SERVICES = ("redis", "postgres")
WORKERS = ("worker-live", "worker-backfill")
# Celery pools that need no package beyond Celery itself.
BUILTIN_POOLS = frozenset({"prefork", "threads", "solo"})
# Time a worker needs after its soft-shutdown grace to requeue what is left and exit.
SHUTDOWN_MARGIN_S = 5.0
# Labels Prometheus adds to every series (our scrape config adds `service`).
TARGET_LABELS = frozenset({"job", "instance", "service"})
SEVERITIES = frozenset({"critical", "warning", "info"})
SECRET_WORDS = ("PASSWORD", "PEPPER", "KEY", "SECRET", "AUTH")
DEPENDS_CONDITIONS = frozenset(
    {"service_started", "service_healthy", "service_completed_successfully"}
)
# The panels the dashboard must have, by the metric each one plots.
DASHBOARD_METRICS = frozenset(
    {
        "triage_tickets_accepted_total",
        "triage_tickets_duplicate_total",
        "triage_tickets_rejected_total",
        "triage_ingest_seconds_bucket",
        "triage_stage_seconds_bucket",
        "triage_stage_retries_total",
        "triage_stage_failures_total",
        "triage_queue_depth",
        "triage_tickets",
        "triage_llm_requests_total",
        "triage_llm_tokens_total",
        "triage_llm_cache_hits_total",
    }
)
# The alerts that must exist, by the metric each one watches.
ALERT_METRICS = frozenset(
    {
        "triage_tickets",
        "triage_stage_failures_total",
        "triage_queue_depth",
        "triage_llm_requests_total",
        "triage_tickets_rejected_total",
    }
)
# Services Prometheus must scrape; each port is checked against the service's own command.
SCRAPE_HOSTS = frozenset({"api", "worker-live", "worker-backfill", "flower"})


@dataclass(frozen=True)
class Stack:
    """Every deployment file, raw and parsed."""

    compose: dict[str, Any]
    compose_text: str
    env_example: str
    dockerfile: str
    pyproject: dict[str, Any]
    prometheus: dict[str, Any]
    alerts: dict[str, Any]
    dashboard: dict[str, Any]


def load_stack() -> Stack:
    """Read the files as they are in the tree."""
    compose_text = (ROOT / "docker-compose.yml").read_text("utf-8")
    return Stack(
        compose=yaml.safe_load(compose_text),
        compose_text=compose_text,
        env_example=(ROOT / ".env.example").read_text("utf-8"),
        dockerfile=(ROOT / "Dockerfile").read_text("utf-8"),
        pyproject=tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8")),
        prometheus=yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text("utf-8")),
        alerts=yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text("utf-8")),
        dashboard=json.loads((ROOT / "deploy" / "grafana" / "ticket-triage.json").read_text()),
    )


# ---------------------------------------------------------------- helpers -------------------


def services(stack: Stack) -> dict[str, dict[str, Any]]:
    """The compose services by name."""
    return cast(dict[str, dict[str, Any]], stack.compose.get("services") or {})


def argv_of(value: str | list[Any] | None) -> list[str]:
    """A compose `command`/`entrypoint` as an argument list (strings are split like a shell)."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def option_value(argv: list[str], option: str) -> str | None:
    """The value given to `option` in `argv` (`--opt value` or `--opt=value`)."""
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def duration_seconds(value: str | int | float) -> float:
    """A compose duration ("1m30s", "45s", "500ms") in seconds."""
    if isinstance(value, int | float):
        return float(value)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {value!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, as a mapping whatever the syntax."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {name: value for name, value in pairs}
    return {str(name): "" if value is None else str(value) for name, value in env.items()}


def env_example_values(text: str) -> dict[str, str]:
    """The variables .env.example assigns (commented-out examples excluded)."""
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


# ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR; `$$` is compose's escape for a literal `$`.
VARIABLE = re.compile(
    r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>:?[-?+][^}]*)?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def compose_variables(text: str) -> dict[str, str | None]:
    """Variables compose interpolates, each with its modifier (`:-x`, `:?msg`) if any."""
    found: dict[str, str | None] = {}
    for match in VARIABLE.finditer(text):
        found[match.group("braced") or match.group("bare")] = match.group("modifier")
    return found


def interpolate(value: str, values: dict[str, str]) -> str:
    """Substitute compose variables from `values`, falling back on `:-` defaults."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        modifier = match.group("modifier") or ""
        if values.get(name):
            return values[name]
        return modifier.split("-", 1)[1] if modifier.lstrip(":").startswith("-") else ""

    return VARIABLE.sub(substitute, value)


def published_container_ports(service: dict[str, Any]) -> set[int]:
    """The container side of every `ports` entry ("8000", "8000:8000", "ip:8000:8000", long)."""
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def healthcheck_ports(service: dict[str, Any]) -> set[int]:
    """Ports of the URLs a service's healthcheck calls."""
    text = " ".join(argv_of((service.get("healthcheck") or {}).get("test")))
    return {int(port) for port in re.findall(r"https?://[^/:\s'\"]+:(\d+)", text)}


# ---------------------------------------------------------------- the CLI -------------------


def entrypoint_group(stack: Stack) -> click.Group:
    """The click group the image's ENTRYPOINT runs, through pyproject's console script."""
    entry = image_entrypoint(stack.dockerfile)
    if len(entry) != 1:
        raise AssertionError(f"expected ENTRYPOINT to be one console script, got {entry}")
    target = stack.pyproject["project"]["scripts"][entry[0]]
    module, _, attribute = target.partition(":")
    group = getattr(importlib.import_module(module), attribute)
    assert isinstance(group, click.Group), f"{target} is not a click group"
    return group


def image_entrypoint(dockerfile: str) -> list[str]:
    """The exec-form ENTRYPOINT of the Dockerfile's final stage."""
    entries = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    return cast(list[str], json.loads(entries[-1])) if entries else []


def parse_cli(group: click.Group, argv: list[str]) -> tuple[list[str], click.Context]:
    """Resolve `argv` to a command and parse its options as click would; raise on misuse."""
    command: click.Command = group
    path = ["triage"]
    args = list(argv)
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            raise click.UsageError(f"`{' '.join(path)}` needs a subcommand")
        name = args.pop(0)
        if name not in command.commands:
            known = ", ".join(sorted(command.commands))
            raise click.UsageError(f"`{name}` is not a command of `{' '.join(path)}` ({known})")
        command = command.commands[name]
        path.append(name)
    # Every option must be one the command declares; make_context below then checks values.
    takes_value = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                takes_value[opt] = not (param.is_flag or param.count)
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("--") or (arg.startswith("-") and not arg[1:].isdigit()):
            name = arg.split("=", 1)[0]
            if name not in takes_value:
                raise click.NoSuchOption(name, possibilities=sorted(takes_value))
            skip = takes_value[name] and "=" not in arg
    # Type conversion, required options and extra arguments, without running the command.
    return path, command.make_context(" ".join(path), args)


def cli_problems(group: click.Group, argv: list[str], pyproject: dict[str, Any]) -> list[str]:
    """Why `triage <argv>` would not start, or would start something other than intended."""
    try:
        path, ctx = parse_cli(group, argv)
    except click.ClickException as error:
        return [f"`triage {shlex.join(argv)}`: {error.format_message()}"]
    problems = []
    if path[1:] == ["worker"]:
        queues = {q.strip() for q in str(ctx.params["queues"]).split(",")}
        unknown = queues - {q.value for q in Queue}
        if unknown:
            problems.append(f"worker consumes unknown queues {sorted(unknown)}")
        pool = str(ctx.params["pool"])
        deps = " ".join(pyproject["project"]["dependencies"])
        if pool not in BUILTIN_POOLS and pool not in deps:
            problems.append(f"worker pool {pool!r} needs a package the image does not install")
        if not ctx.params["metrics_port"]:
            problems.append("worker metrics are off (--metrics-port 0) but Prometheus scrapes them")
    return problems


def serving_port(stack: Stack, name: str) -> int | None:
    """The port a project service listens on, from its own command line (defaults included)."""
    argv = argv_of(services(stack)[name].get("command"))
    _, ctx = parse_cli(entrypoint_group(stack), argv)
    if "bind" in ctx.params:
        return int(str(ctx.params["bind"]).rsplit(":", 1)[1])
    for option in ("port", "metrics_port"):
        if option in ctx.params:
            return int(ctx.params[option])
    return None


# ---------------------------------------------------------------- metrics -------------------


class _UnreachableStore:
    """A store that is down: the collector then yields its gauge families without samples."""

    def transaction(self) -> Any:
        raise RuntimeError("no store in this test")


def exposed_metrics() -> dict[str, frozenset[str]]:
    """Every series name pipeline.telemetry.metrics exposes, with its label names."""
    exposed: dict[str, frozenset[str]] = {}
    for obj in vars(pipeline.telemetry.metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        labels = frozenset(obj._labelnames)
        for family in obj.describe():
            if family.type == "counter":
                exposed[family.name + "_total"] = labels
            elif family.type == "histogram":
                exposed[family.name + "_bucket"] = labels | {"le"}
                exposed[family.name + "_count"] = labels
                exposed[family.name + "_sum"] = labels
            else:
                exposed[family.name] = labels
    collector = PipelineStateCollector(cast(TicketStore, _UnreachableStore()), UnknownQueueDepths())
    for family in collector.collect():
        exposed[family.name] = frozenset(family._labelnames)  # type: ignore[attr-defined]
    return exposed


PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
    | {"and", "or", "unless", "offset", "inf", "nan", "atan2"}
)
STRING = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`")


def referenced_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords, labels excluded)."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables ($__rate_interval)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, is_call = match.group(1), match.group(2)
        if not is_call and word.lower() not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def matched_labels(expr: str) -> dict[str, set[str]]:
    """Label names used in each `metric{...}` selector of an expression."""
    text = STRING.sub('""', expr)
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", text):
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", match.group(2)))
        found.setdefault(match.group(1), set()).update(labels)
    return found


def expr_problems(expr: str, exposed: dict[str, frozenset[str]]) -> list[str]:
    """Names or labels in `expr` that pipeline/telemetry/metrics.py does not expose."""
    names = referenced_metrics(expr)
    if not names:
        return [f"no metric found in {expr!r}"]
    problems = [f"unknown metric {name} in {expr!r}" for name in sorted(names - exposed.keys())]
    for name, labels in matched_labels(expr).items():
        unknown = labels - exposed.get(name, frozenset()) - TARGET_LABELS
        if name in exposed and unknown:
            problems.append(f"{name} has no label {sorted(unknown)} in {expr!r}")
    return problems


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels") or [])


# ---------------------------------------------------------------- the checks ----------------


def missing_services(stack: Stack) -> list[str]:
    """Every service the stack needs exists."""
    return [
        f"no service {name}"
        for name in (*PROJECT_SERVICES, *INFRA_SERVICES)
        if name not in services(stack)
    ]


def command_problems(stack: Stack) -> list[str]:
    """Each project service runs a real `triage` command with real options."""
    group = entrypoint_group(stack)
    problems = []
    for name in PROJECT_SERVICES:
        service = services(stack).get(name, {})
        if "entrypoint" in service:
            problems.append(f"{name} overrides the image's entrypoint")
        argv = argv_of(service.get("command"))
        problems += [f"{name}: {p}" for p in cli_problems(group, argv, stack.pyproject)]
    expected = {
        "migrate": ["db", "upgrade"],
        "api": ["api"],
        "worker-live": ["worker"],
        "worker-backfill": ["worker"],
        "beat": ["beat"],
        "flower": ["flower"],
    }
    for name, words in expected.items():
        argv = argv_of(services(stack).get(name, {}).get("command"))
        if argv[: len(words)] != words:
            problems.append(f"{name} should run `triage {' '.join(words)}`, runs {argv}")
    for name, queue in (("worker-live", "live"), ("worker-backfill", "backfill")):
        argv = argv_of(services(stack).get(name, {}).get("command"))
        if option_value(argv, "--queues") != queue:
            problems.append(f"{name} must consume exactly the {queue} queue")
    return problems


def image_problems(stack: Stack) -> list[str]:
    """Project services share one build and image; infrastructure uses upstream images."""
    problems = []
    builds = {
        json.dumps(services(stack).get(n, {}).get("build"), sort_keys=True)
        for n in PROJECT_SERVICES
    }
    images = {services(stack).get(n, {}).get("image") for n in PROJECT_SERVICES}
    if len(builds) != 1 or "null" in builds:
        problems.append(f"project services build differently: {sorted(builds)}")
    if len(images) != 1 or None in images:
        problems.append(f"project services name different images: {images}")
    for name, image in (("redis", "redis:7"), ("postgres", "postgres:16")):
        service = services(stack).get(name, {})
        if not str(service.get("image", "")).startswith(image) or "build" in service:
            problems.append(f"{name} should run the upstream {image} image")
    return problems


def dockerfile_problems(stack: Stack) -> list[str]:
    """The image: python:3.11-slim, installed with pip from pyproject, non-root, `triage`."""
    text = stack.dockerfile
    problems = []
    if "python:3.11-slim" not in text:
        problems.append("base image is not python:3.11-slim")
    if not re.search(r"pip install [^\n]*\.\s*(\\|&&|$)", text, re.MULTILINE):
        problems.append("the project is not installed with `pip install .`")
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("the image runs as root")
    if image_entrypoint(text) != ["triage"]:
        problems.append('ENTRYPOINT is not ["triage"]')
    if "triage" not in stack.pyproject["project"]["scripts"]:
        problems.append("pyproject.toml has no `triage` console script")
    if not re.search(r"^EXPOSE\s+.*\b8000\b", text, re.MULTILINE):
        problems.append("the image does not expose 8000")
    return problems


def port_problems(stack: Stack) -> list[str]:
    """Published ports and healthcheck URLs match the port each process listens on."""
    problems = []
    for name in ("api", "flower"):
        service = services(stack).get(name, {})
        port = serving_port(stack, name)
        published = published_container_ports(service)
        if published != {port}:
            problems.append(f"{name} listens on {port} but publishes container ports {published}")
        checked = healthcheck_ports(service)
        if checked != {port}:
            problems.append(f"{name} listens on {port} but its healthcheck calls {checked}")
    test = " ".join(argv_of((services(stack).get("api", {}).get("healthcheck") or {}).get("test")))
    if "/healthz" not in test:
        problems.append("api's healthcheck does not call /healthz")
    for name in WORKERS:
        if published_container_ports(services(stack).get(name, {})):
            problems.append(f"{name} publishes a host port; Prometheus reaches it on the network")
    return problems


def redis_problems(stack: Stack) -> list[str]:
    """Redis keeps messages across restarts (AOF, a volume) and never evicts them."""
    service = services(stack).get("redis", {})
    argv = argv_of(service.get("command"))
    problems = []
    if option_value(argv, "--appendonly") != "yes":
        problems.append("redis runs without --appendonly yes")
    if option_value(argv, "--maxmemory-policy") != "noeviction":
        problems.append("redis may evict queued messages (no --maxmemory-policy noeviction)")
    if not any(str(v).endswith(":/data") for v in service.get("volumes") or []):
        problems.append("redis's /data (the AOF) is not on a volume")
    if "redis-cli ping" not in " ".join(argv_of((service.get("healthcheck") or {}).get("test"))):
        problems.append("redis has no `redis-cli ping` healthcheck")
    return problems


# Services that talk to the broker: with the rabbitmq profile they must wait for it.
BROKER_CLIENTS = ("api", "worker-live", "worker-backfill", "beat", "flower")


def rabbitmq_problems(stack: Stack) -> list[str]:
    """The rabbitmq profile: a durable, health-checked RabbitMQ the broker's clients wait for,
    with the shared counters still on Redis."""
    service = services(stack).get("rabbitmq", {})
    problems = []
    if service.get("profiles") != ["rabbitmq"]:
        problems.append("rabbitmq is not (only) in the `rabbitmq` profile")
    if not any(str(v).endswith(":/var/lib/rabbitmq") for v in service.get("volumes") or []):
        problems.append("rabbitmq's /var/lib/rabbitmq (the quorum queues' logs) is not a volume")
    if not service.get("hostname"):
        problems.append("rabbitmq has no fixed hostname (its node name and data would move)")
    check = " ".join(argv_of((service.get("healthcheck") or {}).get("test")))
    if "rabbitmq-diagnostics" not in check:
        problems.append("rabbitmq has no `rabbitmq-diagnostics ping` healthcheck")
    env = environment(service)
    example = re.search(r"amqp://[^\s]+", stack.env_example)
    if example is None:
        problems.append(".env.example does not show the amqp:// BROKER_URL")
    else:
        url = make_url(example.group(0).replace("<RABBITMQ_PASSWORD>", "x"))
        if (url.host, url.username, url.database) != (
            "rabbitmq",
            env.get("RABBITMQ_DEFAULT_USER"),
            env.get("RABBITMQ_DEFAULT_VHOST"),
        ):
            problems.append(f"the example amqp:// URL does not match the rabbitmq service: {url}")
    for name in BROKER_CLIENTS:
        depends = services(stack).get(name, {}).get("depends_on") or {}
        spec = depends.get("rabbitmq") if isinstance(depends, dict) else None
        if not spec or spec.get("condition") != "service_healthy" or spec.get("required", True):
            problems.append(f"{name} does not wait for rabbitmq (healthy, required: false)")
    shared = cast(dict[str, Any], stack.compose.get("x-triage-env") or {})
    counters = make_url(str(shared.get("TRIAGE_REDIS_URL", "none://")))
    if counters.drivername != "redis" or counters.host not in services(stack):
        problems.append("x-triage-env does not keep the counters on Redis (TRIAGE_REDIS_URL)")
    return problems


def postgres_problems(stack: Stack) -> list[str]:
    """PostgreSQL keeps its data on a volume, has a readiness check and matches the URL."""
    service = services(stack).get("postgres", {})
    env = environment(service)
    problems = []
    if env.get("POSTGRES_DB") != "triage":
        problems.append("POSTGRES_DB is not triage")
    if not any(":/var/lib/postgresql/data" in str(v) for v in service.get("volumes") or []):
        problems.append("postgres's data directory is not on a volume")
    if "pg_isready" not in " ".join(argv_of((service.get("healthcheck") or {}).get("test"))):
        problems.append("postgres has no pg_isready healthcheck")
    values = env_example_values(stack.env_example)
    shared = cast(dict[str, Any], stack.compose.get("x-triage-env") or {})
    url = make_url(interpolate(str(shared.get("TRIAGE_DATABASE_URL", "")), values))
    expected = (
        env.get("POSTGRES_USER", "postgres"),
        interpolate(env.get("POSTGRES_PASSWORD", ""), values),
        "postgres",
        env.get("POSTGRES_DB"),
    )
    if (url.username, url.password, url.host, url.database) != expected:
        problems.append(f"TRIAGE_DATABASE_URL {url!r} does not match the postgres service")
    return problems


def environment_problems(stack: Stack) -> list[str]:
    """Project services share .env and the x-triage-env anchor; the values are valid settings."""
    shared = cast(dict[str, Any], stack.compose.get("x-triage-env") or {})
    problems = []
    if not {"TRIAGE_DATABASE_URL", "TRIAGE_BROKER_URL"} <= shared.keys():
        problems.append("x-triage-env lacks TRIAGE_DATABASE_URL or TRIAGE_BROKER_URL")
    if shared.get("TRIAGE_LOG_FORMAT") != "json":
        problems.append("x-triage-env does not set TRIAGE_LOG_FORMAT=json")
    values = env_example_values(stack.env_example)
    broker = make_url(interpolate(str(shared.get("TRIAGE_BROKER_URL", "redis://")), values))
    if broker.host not in services(stack):
        problems.append(f"the broker host {broker.host} is not a service")
    for name in PROJECT_SERVICES:
        service = services(stack).get(name, {})
        env_files = service.get("env_file")
        env_files = [env_files] if isinstance(env_files, str | dict) else env_files or []
        if ".env" not in [f["path"] if isinstance(f, dict) else f for f in env_files]:
            problems.append(f"{name} does not read env_file .env")
        env = environment(service)
        missing = {k for k, v in shared.items() if env.get(k) != str(v)}
        if missing:
            problems.append(f"{name} does not get the shared environment {sorted(missing)}")
        # What the container sees: .env first, `environment` over it (compose's precedence).
        seen = {**values, **{k: interpolate(v, values) for k, v in env.items()}}
        triage_env = {k: v for k, v in seen.items() if k.startswith("TRIAGE_")}
        try:
            with mock.patch.dict(os.environ, triage_env, clear=True):
                Settings()
        except ValidationError as error:
            problems.append(f"{name}: invalid settings: {error}")
    return problems


def replica_problems(stack: Stack) -> list[str]:
    """Beat runs exactly once."""
    beat = services(stack).get("beat", {})
    replicas = (beat.get("deploy") or {}).get("replicas", 1)
    return (
        ["beat must not run more than one replica"]
        if max(replicas, beat.get("scale", 1)) > 1
        else []
    )


def dependency_problems(stack: Stack) -> list[str]:
    """depends_on names real services, with conditions those services can meet."""
    problems = []
    for name, service in services(stack).items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {"condition": "service_started"} for dep in depends}
        for dep, spec in depends.items():
            target = services(stack).get(dep)
            condition = (spec or {}).get("condition", "service_started")
            if target is None:
                problems.append(f"{name} depends on the unknown service {dep}")
            elif condition not in DEPENDS_CONDITIONS:
                problems.append(f"{name} waits on {dep} with an unknown condition {condition}")
            elif condition == "service_healthy" and "healthcheck" not in target:
                problems.append(f"{name} waits for {dep} to be healthy; it has no healthcheck")
            elif condition == "service_completed_successfully" and target.get("restart") not in (
                None,
                "no",
            ):
                problems.append(f"{name} waits for one-shot {dep}, which restarts")
    expected = {
        "migrate": {"postgres": "service_healthy"},
        "api": {"migrate": "service_completed_successfully", "redis": "service_healthy"},
    }
    for name, wanted in expected.items():
        depends = services(stack).get(name, {}).get("depends_on") or {}
        for dep, condition in wanted.items():
            if (
                not isinstance(depends, dict)
                or (depends.get(dep) or {}).get("condition") != condition
            ):
                problems.append(f"{name} should wait for {dep} ({condition})")
    return problems


def worker_shutdown_problems(stack: Stack) -> list[str]:
    """Docker waits longer than Celery's soft-shutdown grace, which a cold shutdown triggers."""
    problems = []
    default = Settings.model_fields["worker_shutdown_grace_s"].default
    for name in WORKERS:
        service = services(stack).get(name, {})
        env = environment(service)
        grace = float(env.get("TRIAGE_WORKER_SHUTDOWN_GRACE_S", default))
        stop = duration_seconds(service.get("stop_grace_period", "10s"))
        if grace <= 0:
            problems.append(f"{name} has no soft-shutdown grace")
        if stop < grace + SHUTDOWN_MARGIN_S:
            problems.append(f"{name}: stop_grace_period {stop}s does not cover the {grace}s grace")
        # Celery applies worker_soft_shutdown_timeout on a cold shutdown only (SIGQUIT).
        if service.get("stop_signal") != "SIGQUIT" and env.get("REMAP_SIGTERM") != "SIGQUIT":
            problems.append(f"{name} is stopped by SIGTERM, which skips the soft shutdown")
    return problems


def variable_problems(stack: Stack) -> list[str]:
    """Every ${VAR} the compose file uses is listed in .env.example, with a value if required."""
    values = env_example_values(stack.env_example)
    problems = []
    for name, modifier in compose_variables(stack.compose_text).items():
        if name not in values:
            problems.append(f"${{{name}}} is used in docker-compose.yml, not in .env.example")
        elif modifier and modifier.lstrip(":").startswith("?") and not values[name]:
            problems.append(f"${{{name}}} is required but empty in .env.example")
    return problems


def settings_name_problems(stack: Stack) -> list[str]:
    """Every TRIAGE_* name in compose and .env.example is a field of Settings."""
    fields = Settings.model_fields.keys()
    names = set()
    for text in (stack.compose_text, stack.env_example):
        names |= set(re.findall(r"(?<![A-Za-z0-9_])TRIAGE_([A-Z0-9_]+)", text))
    return [
        f"TRIAGE_{name} is not a setting" for name in sorted(names) if name.lower() not in fields
    ]


def secret_problems(stack: Stack) -> list[str]:
    """.env.example carries placeholders, never a real secret."""
    problems = []
    for name, value in env_example_values(stack.env_example).items():
        if any(word in name for word in SECRET_WORDS) and value and "change-me" not in value:
            problems.append(f"{name} in .env.example looks like a real secret")
    if "openssl rand -hex 32" not in stack.env_example:
        problems.append(".env.example does not say how to generate the pepper")
    return problems


def alert_problems(stack: Stack) -> list[str]:
    """alerts.yml is a rule file whose alerts use only exposed metrics."""
    exposed = exposed_metrics()
    problems = []
    watched: set[str] = set()
    groups = stack.alerts.get("groups") if isinstance(stack.alerts, dict) else None
    if not groups:
        return ["alerts.yml has no rule groups"]
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert", "<unnamed>")
            if "alert" not in rule or "expr" not in rule:
                problems.append(f"rule {rule} needs `alert` and `expr`")
                continue
            problems += [f"{name}: {p}" for p in expr_problems(str(rule["expr"]), exposed)]
            watched |= referenced_metrics(str(rule["expr"]))
            if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
                problems.append(f"{name} has no severity in {sorted(SEVERITIES)}")
            if not {"summary", "description"} <= (rule.get("annotations") or {}).keys():
                problems.append(f"{name} lacks a summary or description")
            try:
                duration_seconds(str(rule.get("for", "0s")))
            except ValueError:
                problems.append(f"{name} has an invalid `for`")
    problems += [f"no alert on {metric}" for metric in sorted(ALERT_METRICS - watched)]
    return problems


def dashboard_problems(stack: Stack) -> list[str]:
    """The Grafana dashboard imports with a Prometheus input and plots only exposed metrics."""
    exposed = exposed_metrics()
    board = stack.dashboard
    problems = []
    if int(board.get("schemaVersion", 0)) < 36:
        problems.append("schemaVersion is below 36")
    if "DS_PROMETHEUS" not in {i.get("name") for i in board.get("__inputs") or []}:
        problems.append("no DS_PROMETHEUS datasource input")
    plotted: set[str] = set()
    for panel in dashboard_panels(board.get("panels") or []):
        targets = panel.get("targets") or []
        if targets and (panel.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
            problems.append(f"panel {panel.get('title')!r} does not use ${{DS_PROMETHEUS}}")
        for target in targets:
            expr = str(target.get("expr", ""))
            problems += [f"panel {panel.get('title')!r}: {p}" for p in expr_problems(expr, exposed)]
            plotted |= referenced_metrics(expr)
    problems += [f"no panel plots {metric}" for metric in sorted(DASHBOARD_METRICS - plotted)]
    return problems


def scrape_targets(prometheus: dict[str, Any]) -> set[tuple[str, int]]:
    """(host, port) of every static or DNS-discovered scrape target."""
    targets = set()
    for job in prometheus.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs") or []:
            targets |= {(host, int(dns["port"])) for host in dns.get("names") or []}
    return targets


def prometheus_problems(stack: Stack) -> list[str]:
    """Prometheus scrapes each metrics endpoint on the port its service serves it on."""
    targets = scrape_targets(stack.prometheus)
    problems = []
    for host, port in sorted(targets):
        if host not in services(stack):
            problems.append(f"scrape target {host}:{port} is not a service")
        elif host in PROJECT_SERVICES and serving_port(stack, host) != port:
            problems.append(f"scrape target {host}:{port}: {host} serves on another port")
    missing = SCRAPE_HOSTS - {host for host, _ in targets}
    problems += [f"nothing scrapes {host}" for host in sorted(missing)]
    for rule_file in stack.prometheus.get("rule_files") or []:
        if not (PROMETHEUS_DIR / rule_file).is_file():
            problems.append(f"rule file {rule_file} does not exist")
    return problems


CHECKS: tuple[Callable[[Stack], list[str]], ...] = (
    missing_services,
    command_problems,
    image_problems,
    dockerfile_problems,
    port_problems,
    redis_problems,
    rabbitmq_problems,
    postgres_problems,
    environment_problems,
    replica_problems,
    dependency_problems,
    worker_shutdown_problems,
    variable_problems,
    settings_name_problems,
    secret_problems,
    alert_problems,
    dashboard_problems,
    prometheus_problems,
)


# ---------------------------------------------------------------- breaking the stack --------


_DELETE = object()


def _set(path: str, value: Any) -> Callable[[Stack], Stack]:
    """An edit of the parsed compose file at a dotted path ("services.api.ports")."""

    def edit(stack: Stack) -> Stack:
        compose = copy.deepcopy(stack.compose)
        *parents, last = path.split(".")
        node = compose
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
        return replace(stack, compose=compose)

    return edit


def _text(field: str, old: str, new: str) -> Callable[[Stack], Stack]:
    """An edit of a raw file's text (`compose_text`, `env_example`, `dockerfile`)."""

    def edit(stack: Stack) -> Stack:
        text = getattr(stack, field)
        assert old in text, f"{old!r} is not in {field}; the breakage would test nothing"
        return replace(stack, **{field: text.replace(old, new)})

    return edit


def _doc(field: str, edit_doc: Callable[[Any], None]) -> Callable[[Stack], Stack]:
    """An edit of a parsed document (`alerts`, `dashboard`, `prometheus`)."""

    def edit(stack: Stack) -> Stack:
        doc = copy.deepcopy(getattr(stack, field))
        edit_doc(doc)
        return replace(stack, **{field: doc})

    return edit


def _first_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    """The first alerting rule, to break."""
    return cast(dict[str, Any], alerts["groups"][0]["rules"][0])


def _first_target(board: dict[str, Any]) -> dict[str, Any]:
    """The first panel query, to break."""
    panel = next(p for p in dashboard_panels(board["panels"]) if p.get("targets"))
    return cast(dict[str, Any], panel["targets"][0])


_API = ["api", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8"]

BREAKAGES: list[tuple[Callable[[Stack], list[str]], str, Callable[[Stack], Stack]]] = [
    (rabbitmq_problems, "rabbitmq always on", _set("services.rabbitmq.profiles", _DELETE)),
    (
        rabbitmq_problems,
        "worker not waiting for rabbitmq",
        _set("services.worker-live.depends_on", {"redis": {"condition": "service_healthy"}}),
    ),
    (
        rabbitmq_problems,
        "example URL with another vhost",
        _text("env_example", "@rabbitmq:5672/triage", "@rabbitmq:5672/other"),
    ),
    (missing_services, "beat removed", _set("services.beat", _DELETE)),
    (command_problems, "unknown subcommand", _set("services.beat.command", ["sweeper"])),
    (
        command_problems,
        "misspelt option",
        _set("services.worker-live.command", ["worker", "--queue", "live"]),
    ),
    (
        command_problems,
        "option of another command",
        _set("services.beat.command", ["beat", "--port", "5555"]),
    ),
    (
        command_problems,
        "value of the wrong type",
        _set("services.worker-live.command", ["worker", "--concurrency", "many"]),
    ),
    (command_problems, "group without subcommand", _set("services.migrate.command", ["db"])),
    (
        command_problems,
        "unknown db subcommand",
        _set("services.migrate.command", ["db", "migrate"]),
    ),
    (command_problems, "extra argument", _set("services.api.command", [*_API, "app:app"])),
    (
        command_problems,
        "unknown queue",
        _set("services.worker-live.command", ["worker", "--queues", "live,urgent"]),
    ),
    (
        command_problems,
        "pool not installed",
        # (gevent is installed now: `triage api` runs on it)
        _set("services.worker-live.command", ["worker", "--queues", "live", "--pool", "eventlet"]),
    ),
    (
        command_problems,
        "worker on both queues",
        _set("services.worker-backfill.command", ["worker"]),
    ),
    (command_problems, "entrypoint overridden", _set("services.api.entrypoint", ["gunicorn"])),
    (image_problems, "a service on another image", _set("services.beat.image", "other:1")),
    (image_problems, "a service without build", _set("services.flower.build", _DELETE)),
    (dockerfile_problems, "root user", _text("dockerfile", "USER 10001:10001", "USER root")),
    (
        dockerfile_problems,
        "other entrypoint",
        _text("dockerfile", 'ENTRYPOINT ["triage"]', 'ENTRYPOINT ["celery"]'),
    ),
    (port_problems, "api publishes another port", _set("services.api.ports", ["8080:8080"])),
    (
        port_problems,
        "api binds another port",
        _set("services.api.command", ["api", "--bind", "0.0.0.0:9000"]),
    ),
    (
        port_problems,
        "flower listens elsewhere",
        _set("services.flower.command", ["flower", "--port", "5556"]),
    ),
    (redis_problems, "no AOF", _set("services.redis.command", ["redis-server"])),
    (
        redis_problems,
        "evicting redis",
        _set(
            "services.redis.command",
            ["redis-server", "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"],
        ),
    ),
    (
        postgres_problems,
        "other database",
        _set("services.postgres.environment.POSTGRES_DB", "other"),
    ),
    (environment_problems, "text logs", _set("x-triage-env.TRIAGE_LOG_FORMAT", "text")),
    (environment_problems, "no env_file", _set("services.api.env_file", _DELETE)),
    (
        environment_problems,
        "invalid setting value",
        _text("env_example", "TRIAGE_CLASSIFIER=auto", "TRIAGE_CLASSIFIER=gpt"),
    ),
    (replica_problems, "two beats", _set("services.beat.deploy", {"replicas": 2})),
    (
        dependency_problems,
        "unknown dependency",
        _set("services.api.depends_on", {"db": {"condition": "service_started"}}),
    ),
    (
        dependency_problems,
        "api before migrations",
        _set("services.api.depends_on", {"redis": {"condition": "service_healthy"}}),
    ),
    (dependency_problems, "one-shot that restarts", _set("services.migrate.restart", "always")),
    (
        worker_shutdown_problems,
        "short grace period",
        _set("services.worker-live.stop_grace_period", "10s"),
    ),
    (
        worker_shutdown_problems,
        "SIGTERM stop",
        _set("services.worker-backfill.stop_signal", "SIGTERM"),
    ),
    (
        variable_problems,
        "undeclared variable",
        _text("compose_text", "${REDIS_MAXMEMORY", "${REDIS_MAX_MEMORY"),
    ),
    (
        settings_name_problems,
        "misspelt setting",
        _text("env_example", "TRIAGE_LOG_LEVEL=", "TRIAGE_LOGLEVEL="),
    ),
    (
        secret_problems,
        "real-looking secret",
        _text("env_example", "TRIAGE_API_KEY_PEPPER=change-me", "TRIAGE_API_KEY_PEPPER=3f9a1c"),
    ),
    (
        alert_problems,
        "unknown metric",
        _doc("alerts", lambda d: _first_rule(d).update(expr="sum(triage_tickets_pending) > 1")),
    ),
    (
        alert_problems,
        "counter without _total",
        _doc("alerts", lambda d: _first_rule(d).update(expr="rate(triage_stage_failures[5m]) > 0")),
    ),
    (
        alert_problems,
        "unknown label",
        _doc(
            "alerts", lambda d: _first_rule(d).update(expr='triage_queue_depth{queu="live"} > 1000')
        ),
    ),
    (alert_problems, "no severity", _doc("alerts", lambda d: _first_rule(d).update(labels={}))),
    (
        dashboard_problems,
        "bare histogram name",
        _doc("dashboard", lambda d: _first_target(d).update(expr="triage_ingest_seconds")),
    ),
    (dashboard_problems, "old schema", _doc("dashboard", lambda d: d.update(schemaVersion=27))),
    (
        prometheus_problems,
        "wrong worker port",
        _doc(
            "prometheus",
            lambda d: d.update(
                scrape_configs=[
                    {"job_name": "w", "static_configs": [{"targets": ["worker-live:9100"]}]}
                ]
            ),
        ),
    ),
]


# ---------------------------------------------------------------- tests ---------------------


@pytest.fixture(scope="module")
def stack() -> Stack:
    """The deployment files as they are in the tree."""
    return load_stack()


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_stack_passes(stack: Stack, check: Callable[[Stack], list[str]]) -> None:
    assert check(stack) == []


@pytest.mark.parametrize(
    ("check", "edit"),
    [(check, edit) for check, _, edit in BREAKAGES],
    ids=[f"{check.__name__}: {what}" for check, what, _ in BREAKAGES],
)
def test_check_rejects_broken_stack(
    stack: Stack, check: Callable[[Stack], list[str]], edit: Callable[[Stack], Stack]
) -> None:
    assert check(edit(stack)), "the check let a broken stack through"


def test_every_check_is_shown_to_fail() -> None:
    assert {check for check, _, _ in BREAKAGES} == set(CHECKS)


def test_metric_names_come_from_the_metrics_module() -> None:
    exposed = exposed_metrics()
    assert {"triage_queue_depth", "triage_tickets", "triage_ingest_seconds_sum"} <= exposed.keys()
    assert "triage_tickets_accepted" not in exposed  # counters are only exposed with _total
    assert exposed["triage_stage_seconds_bucket"] == {"stage", "outcome", "le"}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (le) (rate(triage_ingest_seconds_bucket[5m]))", {"triage_ingest_seconds_bucket"}),
        ('max by (status) (triage_tickets{status=~"received|routed"}) > 500', {"triage_tickets"}),
        (
            "rate(a_total[$__rate_interval]) / on (stage) group_left rate(b_count[1h]) > 1e3",
            {"a_total", "b_count"},
        ),
        ('sum(x offset 5m) and y{job="sum"}', {"x", "y"}),
    ],
)
def test_referenced_metrics(expr: str, names: set[str]) -> None:
    assert referenced_metrics(expr) == names


def test_duration_seconds() -> None:
    assert duration_seconds("1m30s") == 90
    with pytest.raises(ValueError):
        duration_seconds("45 seconds")
