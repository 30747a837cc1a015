"""`triage run` (`make run`): the whole stack on local servers, under one supervisor (honcho)."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

import click
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import RoutingTable, load_routing
from pipeline.operations.doctor import check_broker
from pipeline.settings import Settings, env_file_path
from pipeline.store.create import DatabaseCreationError, create_and_upgrade
from pipeline.wiring import Services, build_health_probes
from triage_cli.receiver import parse_bind

CHECKOUT = Path(__file__).resolve().parents[1]
PROCFILE = CHECKOUT / "Procfile"
LOCAL_ENV_TEMPLATE = CHECKOUT / "deploy" / "local.env.example"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
READY_TIMEOUT_S = 120.0


def upgrade_store(settings: Settings) -> None:
    """`triage db upgrade`: create the database if nobody has, migrate, say what was done."""
    try:
        outcome = create_and_upgrade(settings.database_url)
    except DatabaseCreationError as error:
        raise click.ClickException(str(error)) from None
    if outcome.created:
        click.echo(f"database created: {outcome.database}")
    click.echo(f"database upgraded: {outcome.before or 'empty'} -> {outcome.after}")


def refuse(message: str) -> NoReturn:
    """Stop before starting anything: one line saying what to do, exit 2."""
    click.echo(f"triage run: {message}", err=True)
    sys.exit(2)


def ensure_env_file(path: Path) -> bool:
    """Create `path` from deploy/local.env.example with generated secrets; True if created."""
    if path.exists():
        if "POSTGRES_PASSWORD=" in path.read_text("utf-8", errors="replace"):
            refuse(
                f"{path} is docker compose's (.env.example); `make run` needs one for local "
                "servers: move it away (compose and make run each want their own .env)"
            )
        return False
    if not LOCAL_ENV_TEMPLATE.exists():
        refuse(f"{LOCAL_ENV_TEMPLATE} is missing: run from a ticket-triage checkout")
    lines = []
    for line in LOCAL_ENV_TEMPLATE.read_text("utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            value = value.replace("change-me", secrets.token_hex(32 if "PEPPER" in name else 16))
            if name == "TRIAGE_ROUTING_FILE" and not Path(value).is_absolute():
                value = str(CHECKOUT / value)  # the same file from any working directory
            line = f"{name}={value}"
        lines.append(line)
    # Created private: it holds the pepper and Flower's password.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return True


def local_receiver_bind(routing: RoutingTable) -> str | None:
    """HOST:PORT of the local receiver the routing delivers to, if every local one is the same."""
    binds = set()
    for department in routing.departments.values():
        if department.endpoint is None:
            continue
        parts = urlsplit(str(department.endpoint))
        if parts.hostname in LOCAL_HOSTS and parts.path.startswith("/departments/"):
            binds.add(f"{parts.hostname}:{parts.port or 80}")
    return binds.pop() if len(binds) == 1 else None


def listening(host: str, port: int) -> bool:
    """Something already accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def key_command() -> str:
    """How to run `triage` from here: the venv's script, relative when under the cwd."""
    script = Path(sys.executable).parent / "triage"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return f"{shown} keys create NAME --role producer"


def http_status(url: str) -> int | None:
    """The status a GET of `url` answers (None: no answer)."""
    try:
        with urlopen(url, timeout=2) as response:
            return int(response.status)
    except HTTPError as error:
        return error.code
    except (URLError, OSError):
        return None


def announce_when_ready(manager: Manager, api: str, lines: list[str]) -> None:
    """Once the API answers /readyz, print where everything is (through honcho's printer)."""

    def say(text: str) -> None:
        manager.events.put(Message("line", text + "\n", datetime.now(), "system", None))

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if http_status(f"{api}/readyz") == 200:
            break
        time.sleep(0.5)
    else:
        say(f"the API at {api} is not ready after {READY_TIMEOUT_S:.0f} s: see its lines above")
        return
    # The console is announced only where this version serves it.
    if (http_status(f"{api}/console/login") or 500) < 400:
        lines.insert(1, f"  console   {api}/console/login")
    for line in lines:
        say(line)


@click.command("run")
@click.option("--api-bind", default="127.0.0.1:8000", show_default=True, help="API HOST:PORT")
@click.option("--flower-port", type=int, default=None, help="[default: TRIAGE_FLOWER_PORT, 5555]")
@click.option(
    "--metrics-port", default=9808, show_default=True, help="worker's Prometheus port; 0: off"
)
@click.option(
    "--procfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=PROCFILE,
    show_default=True,
)
def run_command(api_bind: str, flower_port: int | None, metrics_port: int, procfile: Path) -> None:
    """Run api, worker, beat, Flower (and the local receiver) on local servers until Ctrl-C.

    On first use creates .env (deploy/local.env.example with generated secrets), creates the
    database if it is missing and migrates it, then starts the Procfile's processes under
    honcho with prefixed logs. Ctrl-C stops them all.
    """
    env_file = env_file_path()
    if env_file is not None and ensure_env_file(env_file):
        click.echo(f"triage run: created {env_file} (chmod 600): keep it, it holds the pepper")
    settings = Settings()
    if settings.api_key_pepper is None:
        refuse("TRIAGE_API_KEY_PEPPER is not set: add it to .env (openssl rand -hex 32)")
    upgrade_store(settings)
    # Every process would refuse a broker that is down, one after another: say it once here.
    broker = check_broker(settings, build_health_probes(Services(settings)))
    if not broker.ok:
        refuse(broker.text())
    try:
        routing = load_routing(settings.routing_file)
    except ConfigurationError as error:
        refuse(f"{error}: fix TRIAGE_ROUTING_FILE")
    api_host, api_port = parse_bind(api_bind, option="--api-bind")
    flower = (settings.flower_address, flower_port or settings.flower_port)
    wanted = [("api", "--api-bind", api_host, api_port), ("Flower", "--flower-port", *flower)]
    if metrics_port:
        wanted.append(("worker metrics", "--metrics-port", "127.0.0.1", metrics_port))
    for what, option, host, port in wanted:
        if listening(host, port):
            refuse(f"{host}:{port} ({what}) is in use: stop what listens there or pass {option}")

    names = ["api", "worker", "beat", "flower"]
    receiver = local_receiver_bind(routing)
    if receiver is not None and listening(*parse_bind(receiver)):
        click.echo(f"triage run: {receiver} already listens; not starting a local receiver")
    elif receiver is not None:
        names.append("receiver")
    api = f"http://{api_host}:{api_port}"
    flower_auth = "log in with TRIAGE_FLOWER_BASIC_AUTH's user:password"
    lines = [
        "ready:",
        f"  API       {api}   (POST /tickets, GET /tickets/ID, GET /readyz)",
        f"  Flower    http://{flower[0]}:{flower[1]}   ({flower_auth})",
        *([f"  receiver  http://{receiver}/deliveries"] if "receiver" in names else []),
        f"  a key:    {key_command()}",
        "  Ctrl-C stops them all.",
    ]

    env = dict(os.environ)
    # The Procfile says `triage`: the one next to this interpreter, activated venv or not.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # lines through honcho's pipes as they happen
    if flower_port is not None:
        env["TRIAGE_FLOWER_PORT"] = str(flower_port)  # `triage flower` reads its port there
    env.update(
        RUN_API_BIND=api_bind,
        RUN_WORKER_METRICS_PORT=str(metrics_port),
        RUN_RECEIVER_BIND=receiver or "",
    )
    processes = parse_procfile(procfile.read_text("utf-8")).processes
    missing = [name for name in names if name not in processes]
    if missing:
        refuse(f"{procfile} has no {', '.join(missing)} line: restore it from the checkout")
    manager = Manager(Printer(sys.stdout))
    for name in names:
        manager.add_process(name, processes[name], env=env)
    threading.Thread(
        target=announce_when_ready, args=(manager, api, lines), daemon=True, name="announce"
    ).start()
    manager.loop()
    sys.exit(manager.returncode)
