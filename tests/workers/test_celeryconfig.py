"""`celery -A workers worker` and `triage worker` run the same configuration, celeryconfig's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import Settings
from workers.celery_app import create_celery_app

# Runs one way of starting a worker up to the moment it would start consuming, prints the
# configuration that worker got, and exits.
PROBE = """
import json, sys
from celery.worker.worker import WorkController

KEYS = {keys!r}

def report(worker):
    conf = worker.app.conf
    print("CONF=" + json.dumps({{k: conf[k] for k in KEYS}}, default=repr, sort_keys=True))
    sys.stdout.flush()
    raise SystemExit(0)

WorkController.start = report
if sys.argv[1] == "celery":
    from celery.bin.celery import main
    sys.argv = ["celery", "-A", "workers", "worker", "--pool=solo", "--loglevel=WARNING"]
    main()
else:
    from triage_cli.main import main
    main(["worker", "--pool=solo", "--loglevel=WARNING", "--metrics-port=0"])
"""

KEYS = [
    "broker_url",
    "broker_transport_options",
    "task_queues",
    "task_default_queue",
    "task_acks_late",
    "task_reject_on_worker_lost",
    "worker_prefetch_multiplier",
    "task_soft_time_limit",
    "task_time_limit",
    "worker_soft_shutdown_timeout",
    "worker_enable_soft_shutdown_on_idle",
    "worker_send_task_events",
    "beat_schedule",
]


def worker_conf(how: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(keys=KEYS), how],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("CONF=")]
    assert lines, f"{how}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    conf: dict[str, Any] = json.loads(lines[-1][len("CONF=") :])
    return conf


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    project = Path(__file__).resolve().parents[2]
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRIAGE_", "PROMETHEUS_MULTIPROC_DIR"))
        },
        "PYTHONPATH": str(project),
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'conf.db'}",
        # Never contacted: the probe stops before the worker connects.
        "TRIAGE_BROKER_URL": "redis://127.0.0.1:6379/15",
        "TRIAGE_CLASSIFIER": "local",
        "TRIAGE_VISIBILITY_TIMEOUT": "1234",
        "TRIAGE_WORKER_SHUTDOWN_GRACE_S": "7",
        "TRIAGE_SWEEP_INTERVAL": "11",
        "TRIAGE_TASK_SOFT_TIME_LIMIT": "99",
    }


def test_celery_and_triage_worker_run_the_same_configuration(
    env: dict[str, str], tmp_path: Path
) -> None:
    celery = worker_conf("celery", env, tmp_path)
    triage = worker_conf("triage", env, tmp_path)
    assert celery == triage
    # ... and it is the environment's settings, through celeryconfig.
    assert celery["broker_transport_options"]["visibility_timeout"] == 1234
    assert celery["worker_soft_shutdown_timeout"] == 7.0
    assert celery["task_soft_time_limit"] == 99
    assert celery["beat_schedule"]["sweep-overdue-tickets"]["schedule"] == 11.0
    assert celery["task_acks_late"] is True and celery["worker_prefetch_multiplier"] == 1
    assert [q.split()[2] for q in celery["task_queues"]] == ["live", "backfill"]


def test_an_app_for_given_settings_gets_the_same_view_of_them(settings: Settings) -> None:
    import celeryconfig

    app = create_celery_app(settings)
    expected = celeryconfig.celery_config(settings)
    for key in KEYS:
        assert app.conf[key] == expected[key], key
    assert app.triage_settings is settings


def test_celeryconfig_by_name_is_the_view_of_the_process_settings(settings: Settings) -> None:
    import celeryconfig

    celeryconfig.use_settings(settings)
    try:
        assert celeryconfig.broker_url == settings.broker_url
        assert "task_queues" in dir(celeryconfig)
        assert not hasattr(celeryconfig, "not_a_setting")
    finally:
        celeryconfig.use_settings(None)
