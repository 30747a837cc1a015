"""`triage run` (`make run`): .env on first use, a database created, the stack under honcho."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import head_revision
from tests.support.processes import free_port
from tests.support.servers import POSTGRES_ADMIN_URL, redis_url, require_server
from tests.support.waiting import wait_for
from triage_cli import run
from triage_cli.main import main
from triage_cli.preflight import beat_schedule_path
from triage_cli.run import ensure_env_file, local_receiver_bind

RUN_REDIS_DB = 7  # no other test uses it
LOCAL_ROUTING = Path(run.__file__).resolve().parents[1] / "pipeline" / "data" / "routing.local.toml"
README_TICKET = {
    "subject": "Charged twice",
    "description": "My card was charged twice",
    "customer_id": "cus_1",
}


def test_env_file_is_created_private_with_generated_secrets(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert ensure_env_file(env) is True
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = dict(
        line.split("=", 1) for line in env.read_text().splitlines() if line and line[0] != "#"
    )
    assert not [name for name, value in values.items() if "change-me" in value]
    assert len(values["TRIAGE_API_KEY_PEPPER"]) == 64
    assert values["TRIAGE_FLOWER_BASIC_AUTH"].startswith("ops:")
    assert values["TRIAGE_DATABASE_URL"] == "postgresql+psycopg://postgres@127.0.0.1:5432/triage"
    assert values["TRIAGE_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert Path(values["TRIAGE_ROUTING_FILE"]) == LOCAL_ROUTING  # absolute: any working dir
    first = env.read_text()
    assert ensure_env_file(env) is False and env.read_text() == first  # kept: a stable pepper


def test_settings_read_dotenv_in_the_working_directory_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TRIAGE_API_KEY_PEPPER=from-dotenv\nTRIAGE_LOG_LEVEL=DEBUG\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIAGE_ENV_FILE")  # the suite turns dotenv off; this test wants it
    monkeypatch.delenv("TRIAGE_API_KEY_PEPPER", raising=False)
    monkeypatch.setenv("TRIAGE_LOG_LEVEL", "WARNING")
    settings = Settings()
    assert settings.api_key_pepper is not None
    assert settings.api_key_pepper.get_secret_value() == "from-dotenv"
    assert settings.log_level == "WARNING"


def test_a_compose_env_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / ".env"
    env.write_text("POSTGRES_PASSWORD=change-me\n")
    with pytest.raises(SystemExit) as exit_info:
        ensure_env_file(env)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "docker compose's" in err and "move it away" in err


def test_the_local_routing_file_sends_every_department_to_one_receiver() -> None:
    assert local_receiver_bind(load_routing(LOCAL_ROUTING)) == "127.0.0.1:9100"
    assert local_receiver_bind(load_routing(None)) is None  # bundled default: no endpoints


def run_once(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`triage run ARGS` in `cwd` that is expected to refuse before starting anything."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "triage_cli", "run", *args],
        cwd=cwd,
        env={**base, "TRIAGE_DATABASE_URL": f"sqlite:///{cwd / 't.db'}", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_refuses_a_broker_that_is_down_in_one_line(tmp_path: Path) -> None:
    done = run_once(tmp_path, TRIAGE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("triage run: the broker at redis://127.0.0.1:")
    assert done.stderr.rstrip().endswith("start it or set TRIAGE_BROKER_URL")
    assert (tmp_path / ".env").exists()  # written before: the next try keeps its pepper


def test_run_refuses_a_port_in_use_naming_the_option(tmp_path: Path) -> None:
    broker = redis_url(RUN_REDIS_DB)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_once(tmp_path, "--api-bind", f"127.0.0.1:{port}", TRIAGE_BROKER_URL=broker)
    assert done.returncode == 2
    assert done.stderr == (
        f"triage run: 127.0.0.1:{port} (api) is in use: stop what listens there or pass "
        "--api-bind\n"
    )


def routing_on_port(path: Path, port: int) -> Path:
    """The local routing file with the receiver on `port`."""
    path.write_text(LOCAL_ROUTING.read_text().replace("127.0.0.1:9100", f"127.0.0.1:{port}"))
    return path


def descendants(root: int) -> set[int]:
    """Every live process below `root` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def missing_database() -> Iterator[str]:
    """A PostgreSQL URL whose database nobody created (dropped afterwards if it was)."""
    require_server("127.0.0.1", 5432, "PostgreSQL")
    name = f"triage_run_{uuid.uuid4().hex[:12]}"
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.integration
def test_run_starts_the_stack_delivers_a_ticket_and_ctrl_c_stops_every_process(
    tmp_path: Path, missing_database: str
) -> None:
    broker = redis_url(RUN_REDIS_DB)  # skips without Redis locally, fails under CI
    redis.Redis.from_url(broker).flushdb()
    api_port, flower_port, receiver_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(
        TRIAGE_DATABASE_URL=missing_database,
        TRIAGE_BROKER_URL=broker,
        TRIAGE_ROUTING_FILE=str(routing_on_port(tmp_path / "routing.toml", receiver_port)),
        TRIAGE_SWEEP_INTERVAL="5",
    )  # no pepper: it comes from the .env that `triage run` writes
    log_path = tmp_path / "run.log"
    api = f"http://127.0.0.1:{api_port}"
    argv = ["run", "--api-bind", f"127.0.0.1:{api_port}", "--flower-port", str(flower_port)]
    with open(log_path, "wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "triage_cli", *argv, "--metrics-port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tree: set[int] = set()
    try:

        def ready() -> bool:
            if supervisor.poll() is not None:
                raise AssertionError(f"triage run exited: {log_path.read_text()[-3000:]}")
            return "ready:" in log_path.read_text()

        wait_for(ready, timeout=90, interval=0.2, what="triage run to say ready")
        assert httpx.get(f"{api}/readyz", timeout=5).status_code == 200
        assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
        tree = descendants(supervisor.pid)

        def mint(name: str, role: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "triage_cli", "keys", "create", name, "--role", role],
                cwd=tmp_path,  # the same .env, so the same pepper as the API's
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            return done.stdout.strip()

        producer, reader = mint("helpdesk", "producer"), mint("dashboard", "reader")
        posted = httpx.post(
            f"{api}/tickets", json=README_TICKET, headers={"X-API-Key": producer}, timeout=10
        )
        assert posted.status_code == 202, posted.text
        ticket_id = posted.json()["id"]
        receiver = f"http://127.0.0.1:{receiver_port}"

        def delivered_and_done() -> bool:
            try:
                deliveries = httpx.get(f"{receiver}/deliveries").json()
                ticket = httpx.get(
                    f"{api}/tickets/{ticket_id}", headers={"Authorization": f"Bearer {reader}"}
                ).json()
            except httpx.HTTPError:
                return False
            keys = {d["idempotency_key"] for d in deliveries}
            return f"{ticket_id}:1" in keys and ticket["status"] == "done"

        wait_for(delivered_and_done, timeout=30, interval=0.2, what="the ticket done, delivered")
        line = f"delivered to finance: Idempotency-Key {ticket_id}:1"
        wait_for(lambda: line in log_path.read_text(), timeout=5, what="the receiver's line")
        assert f"receiver | {line}" in log_path.read_text()  # honcho's prefixed log

        os.kill(supervisor.pid, signal.SIGINT)  # what Ctrl-C sends it
        assert supervisor.wait(timeout=60) == 130
        wait_for(
            lambda: not [pid for pid in tree if alive(pid)],
            timeout=10,
            what=f"every child to exit: {[p for p in tree if alive(p)]}",
        )
        assert len(tree) >= 5  # api, worker, beat, flower, receiver (and their shells)
    finally:
        for pid in {supervisor.pid, *tree, *descendants(supervisor.pid)}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        supervisor.wait(timeout=10)
        redis.Redis.from_url(broker).flushdb()
        # Beat's state file is per install (this test's database): leave none behind.
        schedule = beat_schedule_path(Settings(database_url=missing_database, broker_url=broker))
        for leftover in schedule.parent.glob(f"{schedule.name}*"):
            leftover.unlink()


@pytest.mark.integration
def test_db_upgrade_creates_a_database_nobody_created(
    missing_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", missing_database)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    name = missing_database.rsplit("/", 1)[1]
    head = head_revision(create_store_engine("sqlite://"))
    assert result.stdout.splitlines() == [
        f"database created: {name} on 127.0.0.1:5432",
        f"database upgraded: empty -> {head}",
    ]
