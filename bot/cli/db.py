"""``ledgerbot db``: the database schema."""

from __future__ import annotations

import click

from bot.cli.common import services_of


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations."""
    from ledger.migrate import current_revision, upgrade

    services = services_of(ctx)
    upgrade(services.engine)
    click.echo(f"database at revision {current_revision(services.engine)}")
