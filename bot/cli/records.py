"""``ledgerbot verify`` and ``import-article``: the ledger's own records."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from bot.cli.common import services_of


@click.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute every hash and link of the ledger; exit 1 if the chain is broken."""
    from ledger.chain import verify as verify_chain
    from ledger.db import reader
    from ledger.models import LedgerEntry

    services = services_of(ctx)
    with reader(services.engine).connect() as conn:
        total = conn.scalar(select(func.count()).select_from(LedgerEntry))
        if sys.stdout.isatty() and total:
            with click.progressbar(length=total, label="verifying") as bar:
                result = verify_chain(conn, on_entry=lambda _seq: bar.update(1))
        else:
            result = verify_chain(conn)
    if result.ok:
        click.echo(f"ok: {result.checked} entries, head seq {result.head_seq} {result.head_hash}")
        return
    click.echo(
        f"BROKEN at seq {result.bad_seq}: {result.reason} ({result.checked} entries checked)",
        err=True,
    )
    sys.exit(1)


@click.command("import-article")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Override the slug derived from the title.")
@click.pass_context
def import_article_command(ctx: click.Context, path: str, slug: str | None) -> None:
    """Load an article file (the format of the published articles) into the ledger."""
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article

    services = services_of(ctx)
    record = parse_article(Path(path).read_text(encoding="utf-8"), slug=slug)
    with transaction(services.sessions) as session:
        report = import_article(session, record)
    click.echo(
        f"{report.slug}: {report.entries_added} new ledger entries "
        f"({report.sources_added} sources, {report.claims_added} claims"
        f"{', new article' if report.article_created else ''})"
    )
