"""The review console: server-rendered pages under /console on the API process."""

from ingest_api.console import auth, failed, quality, review, tickets
from ingest_api.console.base import console, install_console

__all__ = ["auth", "console", "failed", "install_console", "quality", "review", "tickets"]
