"""Celery app and thin stage tasks. `celery -A workers ...` finds the app built from settings."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first use, not at import: `celery -A workers` asks for `workers.app` while the
    # API imports this package only to publish; settings are read when the app is created.
    if name in ("app", "celery"):
        import flowerconfig
        from workers.celery_app import default_app

        # `celery -A workers flower` from any directory reads our flowerconfig.py (auth on).
        flowerconfig.use_for_flower()
        return default_app()
    raise AttributeError(name)
