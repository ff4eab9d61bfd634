"""``ledgerbot doctor``: check a deployment and say what to fix."""

from __future__ import annotations

import sys

import click

from bot.config import ConfigError, Settings
from bot.ops.services import Services, install


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check configuration, database, Redis, queue and ledger; exit 1 if anything FAILs."""
    from bot.ops import doctor as doctor_module
    from ledger.db import make_engine

    if ctx.obj is None:
        try:
            settings = Settings.load()
        except ConfigError as exc:  # said as a check, in the doctor's own format
            click.secho(f"FAIL  configuration: {exc}", fg="red")
            click.echo("1 checks: 1 FAIL, 0 WARN (fix the configuration, then run doctor again)")
            sys.exit(1)
        url = settings.resolved_database_url()
        # Don't hang on an unreachable database server: a doctor should answer quickly.
        engine = make_engine(
            url, connect_args={"connect_timeout": 5} if url.startswith("postgres") else {}
        )
        ctx.obj = install(Services(settings, engine=engine))
    checks = doctor_module.run(ctx.obj)
    for check in checks:
        click.secho(
            check.line(),
            fg={"OK": "green", "WARN": "yellow", "FAIL": "red"}[check.status],
        )
    fails = sum(check.status == "FAIL" for check in checks)
    warns = sum(check.status == "WARN" for check in checks)
    click.echo(f"{len(checks)} checks: {fails} FAIL, {warns} WARN")
    if fails:
        sys.exit(1)
