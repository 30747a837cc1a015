"""The `triage` command: one entry point for every process and tool."""

from __future__ import annotations

import logging
import sys

import click

from pipeline.settings import ClassifierChoice, Settings
from pipeline.telemetry.logs import configure_logging
from triage_cli.backfill import backfill
from triage_cli.doctor import doctor
from triage_cli.evaluate import eval_command
from triage_cli.keys import keys
from triage_cli.maintenance import purge, replay
from triage_cli.preflight import TriageGroup, warn_unknown_settings
from triage_cli.receiver import receiver
from triage_cli.retriage import retriage_command
from triage_cli.run import run_command
from triage_cli.status import status
from triage_cli.ticket import ticket
from triage_cli.train import train_command

# The HTTP servers `triage api` runs, and gunicorn's worker classes (triage_cli/servers.py).
API_SERVERS = ("granian", "gunicorn")
API_WORKER_CLASSES = ("gevent", "gthread", "sync")


@click.group(cls=TriageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ticket-triage", prog_name="triage")
def main() -> None:
    """ticket-triage: classify, route and audit support tickets."""
    warn_unknown_settings()  # a misspelt TRIAGE_ name would otherwise be silently ignored


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="HOST:PORT to listen on")
@click.option("--workers", default=2, show_default=True, help="API worker processes")
@click.option(
    "--threads",
    default=8,
    show_default=True,
    help="threads running Flask per worker (granian, gunicorn gthread)",
)
@click.option(
    "--connections",
    default=1000,
    show_default=True,
    help="open connections per worker (gevent only; slow and idle ones included)",
)
@click.option(
    "--server",
    type=click.Choice(API_SERVERS),
    default="granian",
    show_default=True,
    help="granian: connections on an event loop, Flask on --threads per worker "
    "(slow-client safe, fastest here); gunicorn: with --worker-class",
)
@click.option(
    "--worker-class",
    type=click.Choice(API_WORKER_CLASSES),
    default="gevent",
    show_default=True,
    help="gunicorn only. gevent: a slow or idle client holds a greenlet, never a thread "
    "(slowloris-safe); gthread: one thread per connection being read",
)
@click.option(
    "--control-socket",
    type=click.Path(dir_okay=False),
    default=None,
    help="gunicorn control socket for gunicornc [default: none; one shared default path "
    "would make two instances on a host take each other's]",
)
def api(
    bind: str,
    server: str,
    workers: int,
    threads: int,
    connections: int,
    worker_class: str,
    control_socket: str | None,
) -> None:
    """Serve the ingest API (granian by default, or gunicorn)."""
    from triage_cli.servers import GunicornServer, gunicorn_options, patch_for_gevent, run_granian

    if server == "gunicorn" and worker_class == "gevent":
        patch_for_gevent()  # before psycopg is imported: it picks its wait function then
    from pipeline.wiring import Services
    from triage_cli.preflight import preflight
    from triage_cli.servers import prepare_metrics_dir

    settings = Settings()
    services = Services(settings)
    # Before gunicorn boots: store (an empty database migrated once, before forking), pepper.
    preflight("api", services)
    services.store.engine.dispose()  # each gunicorn worker opens its own connections
    prepare_metrics_dir("api")
    configure_logging(settings)
    if server == "granian":
        run_granian(bind=bind, workers=workers, threads=threads)
        return
    GunicornServer(
        gunicorn_options(
            bind=bind,
            workers=workers,
            threads=threads,
            connections=connections,
            worker_class=worker_class,
            control_socket=control_socket,
        )
    ).run()


@main.command()
@click.option("--queues", default="live,backfill", show_default=True)
@click.option(
    "--pool",
    default=None,
    help="prefork, threads, solo, gevent  [default: prefork for --queues backfill, else threads]",
)
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="[default: one process per core for a prefork backfill worker, else 8]",
)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--metrics-port", default=9808, show_default=True, help="Prometheus port; 0: off")
def worker(
    queues: str, pool: str | None, concurrency: int | None, loglevel: str, metrics_port: int
) -> None:
    """Run a Celery worker for the pipeline's stages."""
    import os

    from pipeline.wiring import Services
    from triage_cli.preflight import preflight
    from triage_cli.servers import (
        prepare_metrics_dir,
        serve_worker_metrics,
        worker_argv,
        worker_pool,
    )
    from workers.celery_app import default_app

    app = default_app()  # the same app (and configuration) as `celery -A workers worker`
    settings: Settings = app.triage_settings
    history = settings.queue_settings("backfill").effective_classifier()
    pool, concurrency = worker_pool(
        queues, pool, concurrency, cpu_bound=history is ClassifierChoice.local
    )
    services = Services(settings)
    # Before the worker says ready: store (a stale schema refused), broker, classifier.
    preflight("worker", services)
    if pool == "prefork":
        services.store.engine.dispose()  # no connection crosses a fork: children open their own
    app.triage_services[os.getpid()] = services  # this process's services: nothing loaded twice
    prepare_metrics_dir("worker")
    if metrics_port:
        serve_worker_metrics(metrics_port)
    configure_logging(settings)
    click.echo(
        f"triage worker: queues={queues} pool={pool} concurrency={concurrency} "
        f"classifier={settings.effective_classifier().value}",
        err=True,
    )
    app.worker_main(worker_argv(queues, pool, concurrency, loglevel))


@main.command()
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--schedule", default=None, help="beat's state file (default: user cache dir)")
def beat(loglevel: str, schedule: str | None) -> None:
    """Run Celery beat: the periodic sweeper of overdue tickets (run exactly one)."""
    from pipeline.wiring import Services
    from triage_cli.preflight import beat_schedule_path, preflight
    from workers.celery_app import default_app

    app = default_app()
    settings: Settings = app.triage_settings
    preflight("beat", Services(settings))  # before beat starts: the broker it publishes to
    if schedule is None:
        schedule = str(beat_schedule_path(settings))
    configure_logging(settings)
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


@main.command()
@click.option("--address", default=None, help="[default: TRIAGE_FLOWER_ADDRESS, 127.0.0.1]")
@click.option("--port", type=int, default=None, help="[default: TRIAGE_FLOWER_PORT, 5555]")
def flower(address: str | None, port: int | None) -> None:
    """Run Flower on the configured broker, closed by TRIAGE_FLOWER_BASIC_AUTH (flowerconfig.py)."""
    from flower import options as _flower_options  # noqa: F401 - defines Flower's `--conf`

    import flowerconfig
    from workers.celery_app import default_app

    # The same configuration as `celery -A workers flower`: flowerconfig.py reads our
    # settings (auth, address, port) and refuses to start Flower without auth.
    flowerconfig.use_for_flower()
    app = default_app()
    argv = ["flower"]
    argv += [f"--address={address}"] if address is not None else []
    argv += [f"--port={port}"] if port is not None else []
    app.start(argv)


@main.command()
def sweep() -> None:
    """Re-enqueue overdue tickets once, now."""
    from workers.celery_app import default_app
    from workers.sweeper import sweep_overdue

    app = default_app()
    configure_logging(app.triage_settings)
    click.echo(f"requeued {sweep_overdue(app)} overdue tickets")


@main.command()
@click.option("--broker", default=None, help="broker URL (default: in-memory transport)")
@click.option("--database", default=None, help="database URL (default: SQLite in a temp dir)")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for all tickets")
@click.option("--concurrency", default=8, show_default=True, help="worker threads")
def demo(broker: str | None, database: str | None, timeout: float, concurrency: int) -> None:
    """Run the whole pipeline in one process on the bundled sample tickets."""
    from triage_cli.demo import run_demo

    configure_logging(Settings(log_format="text", log_level="WARNING"))
    # The in-memory transport has no host name and kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    sys.exit(run_demo(broker, database, timeout, concurrency))


main.add_command(keys)
main.add_command(backfill)
main.add_command(status)
main.add_command(doctor)
main.add_command(ticket)
main.add_command(train_command)
main.add_command(eval_command)
main.add_command(run_command)
main.add_command(receiver)
main.add_command(retriage_command)
main.add_command(replay)
main.add_command(purge)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create TRIAGE_DATABASE_URL's database if it is missing; apply every pending migration."""
    from triage_cli.run import upgrade_store

    upgrade_store(Settings())
