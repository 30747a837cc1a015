"""Flower's configuration file: auth, address and port from our settings (`TRIAGE_FLOWER_*`).

Flower reads `flowerconfig.py` by default (its `--conf`), but as a FILE in the working
directory, executed, not imported from sys.path. So this module serves twice:

- executed by Flower as its configuration: the names it leaves behind (`basic_auth`,
  `address`, `port`) become Flower's options. It refuses to start Flower with no auth at
  all, so the UI is never served to anyone (Flower answers `/api/*` with 401 when no auth is
  set, but serves the UI to everyone);
- imported, from any working directory, by our app (`celery -A workers flower`,
  `triage flower`): `use_for_flower()` points Flower's `--conf` at this file, so both ways of
  starting Flower read it whatever the working directory is.

Flower's own precedence is kept: the command line (`--basic-auth`, `--address`, `--port`,
`--conf`) wins over this file, and Flower's `FLOWER_*` variables are not overridden.
`FLOWER_UNAUTHENTICATED_API` has no effect here: Flower honours it only when no auth is set,
and this file never lets Flower start without auth.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DEFAULT_CONFIG_FILE = "flowerconfig.py"  # Flower's default `--conf`, relative to the cwd


def use_for_flower() -> None:
    """Point Flower's `--conf` at this file, unless someone chose another (no-op without Flower)."""
    # Flower's options exist once the `celery` command loaded its plugins (flower.command);
    # `triage flower` imports them first. Nothing else of Flower's is touched.
    flower_options = sys.modules.get("flower.options")
    if flower_options is None:
        return
    options = flower_options.default_options
    if options.conf == DEFAULT_CONFIG_FILE:
        options.conf = os.path.abspath(__file__)


def flower_options(already_set: Any) -> dict[str, object]:
    """Flower's options from our settings; exit 2 with one line when Flower would be open."""
    from pipeline.settings import Settings

    settings = Settings()
    chosen: dict[str, object] = {}
    # Auth given to Flower itself (--basic-auth, --auth, FLOWER_BASIC_AUTH, FLOWER_AUTH) wins.
    if not (already_set.basic_auth or already_set.auth):
        if settings.flower_basic_auth is None:
            print(
                "flower: set TRIAGE_FLOWER_BASIC_AUTH=user:password (without it Flower would "
                "serve its UI to anyone)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        # Flower's own format: "user:password", several separated by commas.
        chosen["basic_auth"] = settings.flower_basic_auth.get_secret_value()
    if "FLOWER_ADDRESS" not in os.environ:
        chosen["address"] = settings.flower_address
    if "FLOWER_PORT" not in os.environ:
        chosen["port"] = settings.flower_port
    return chosen


# Executed by Flower (tornado's parse_config_file gives the file no `__name__`): leave the
# options as this file's globals. Imported as a module: define the functions only.
if "__name__" not in globals():
    from flower.options import default_options as _flower_defaults

    globals().update(flower_options(_flower_defaults))
