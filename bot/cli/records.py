"""``ledgerbot verify``, ``import-article`` and ``export-article``: the ledger's own records."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from bot.cli.common import services_of


@click.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute every hash and link of the ledger, and re-hash every published file against
    the entry that commits to it; exit 1 if the chain is broken or a file is missing or
    altered."""
    from bot.media.store import MediaStore
    from bot.media.verify import verify_files
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
        # A broken chain is reported alone: its entries' file lists are not to be trusted.
        store = MediaStore(services.settings.resolved_media_dir)
        files = verify_files(conn, store) if result.ok else None
    if not result.ok:
        click.echo(
            f"BROKEN at seq {result.bad_seq}: {result.reason} ({result.checked} entries checked)",
            err=True,
        )
        sys.exit(1)
    if files is not None and files.problems:
        for line in files.problems[:20]:
            click.echo(f"FILE {line}", err=True)
        click.echo(
            f"BROKEN: {len(files.problems)} of {files.files} published files do not match "
            "their entries (restore them into MEDIA_DIR from a backup or a public copy)",
            err=True,
        )
        sys.exit(1)
    shown = f", {files.files} files" if files is not None and files.files else ""
    click.echo(
        f"ok: {result.checked} entries{shown}, head seq {result.head_seq} {result.head_hash}"
    )


@click.command("import-article")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Override the slug derived from the title.")
@click.pass_context
def import_article_command(ctx: click.Context, path: str, slug: str | None) -> None:
    """Load an article file (the format of the published articles) into the ledger.

    Adds only what the ledger lacks; exits 1, writing nothing, when the ledger already holds
    different content under the same slug and source ids (import it with its own --slug).
    """
    from ledger.article_format import parse_article
    from ledger.chain import PayloadError
    from ledger.db import transaction
    from ledger.importer import AlreadyImported, ImportConflict, import_article

    services = services_of(ctx)
    record = parse_article(Path(path).read_text(encoding="utf-8"), slug=slug)
    try:
        with transaction(services.sessions) as session:
            report = import_article(session, record)
    except (ImportConflict, AlreadyImported) as exc:
        raise click.ClickException(str(exc)) from None
    except PayloadError as exc:  # e.g. an article whose text exceeds one entry's 65,535 bytes
        raise click.ClickException(f"{path}: nothing imported: {exc}") from None
    done = ", new article" if report.article_created else ""
    if report.article_completed:
        done = ", article entry completed with its sections"
    if not report.entries_added:
        done = "; the ledger already holds this article exactly as this file has it"
    click.echo(
        f"{report.slug}: {report.entries_added} new ledger entries "
        f"({report.sources_added} sources, {report.claims_added} claims{done})"
    )


@click.command("export-article")
@click.argument("slug")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.pass_context
def export_article_command(ctx: click.Context, slug: str, output: str | None) -> None:
    """Write an article back in the published text format, from its ledger entries alone.

    Importing the result into an empty ledger gives the same entries (readers' evidence,
    questions and moderation have no place in the format and stay in the ledger).
    """
    from ledger.article_export import export_ledger
    from ledger.slugs import normalize_slug
    from ledger.stats import load_ledgers

    services = services_of(ctx)
    key = normalize_slug(slug)
    with services.read_sessions() as session:
        ledger = load_ledgers(session, [key])[key] if key else None
    try:
        text = export_ledger(ledger) if ledger is not None else None
    except ValueError:
        text = None
    if text is None:
        raise click.ClickException(f"no article {slug!r} in the ledger")
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"{key}: wrote {output}", err=True)
