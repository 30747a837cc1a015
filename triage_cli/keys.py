"""`triage keys`: create, list and revoke API keys."""

from __future__ import annotations

import click

from pipeline.domain.operator import ApiKeyError, Role
from pipeline.operations.api_keys import create_key, list_keys, revoke_key
from pipeline.settings import Settings
from pipeline.wiring import Services, open_store


def _pepper(settings: Settings) -> bytes:
    if settings.api_key_pepper is None:
        raise click.UsageError("TRIAGE_API_KEY_PEPPER is not set (`openssl rand -hex 32`)")
    return settings.api_key_pepper.get_secret_value().encode()


@click.group()
def keys() -> None:
    """API keys (only a keyed hash is stored; the key is shown once)."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--source", default="api", show_default=True, help="producer's source name")
def create(name: str, role: str, source: str) -> None:
    """Create a key and print it alone on stdout, once."""
    settings = Settings()
    try:
        changes = Services(settings).key_changes  # API processes stop refusing it at once
        key = create_key(open_store(settings), _pepper(settings), name, Role(role), source, changes)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(key)
    click.echo(f"created key {name!r} role={role} source={source}; it is not shown again", err=True)


@keys.command("list")
def list_() -> None:
    """List keys: name, role, source, created, revoked."""
    click.echo(f"{'name':<24}{'role':<10}{'source':<16}{'created':<22}revoked")
    for key in list_keys(open_store(Settings())):
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{key.name:<24}{key.role.value:<10}{key.source:<16}{created:<22}{revoked}")


@keys.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a key by name."""
    try:
        settings = Settings()
        announced = revoke_key(open_store(settings), name, Services(settings).key_changes)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    if announced:
        click.echo(f"revoked key {name!r}; every API process refuses it from now on")
    else:
        click.echo(
            f"revoked key {name!r}; API processes refuse it within "
            f"{settings.api_key_cache_s:g} s (no Redis to tell them at once)"
        )
