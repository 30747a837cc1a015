"""Celery app and thin stage tasks. `celery -A workers ...` finds the app built from settings."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first use, not at import: `celery -A workers` asks for `workers.app` while the
    # API imports this package only to publish; settings are read when the app is created.
    if name in ("app", "celery"):
        from workers.celery_app import default_app

        return default_app()
    raise AttributeError(name)
