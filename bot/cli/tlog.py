"""``ledgerbot tlog``, ``verify-receipt``: the log's key and checkpoints, and checking proofs."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from bot.cli.common import services_of


@click.group()
def tlog() -> None:
    """The transparency log: its verifier key and signed checkpoints."""


@tlog.command("vkey")
@click.pass_context
def vkey(ctx: click.Context) -> None:
    """Print the log's verifier key (name+id+key): what monitors and receipts pin."""
    click.echo(services_of(ctx).log_key.vkey)


@tlog.command("checkpoint")
@click.pass_context
def checkpoint(ctx: click.Context) -> None:
    """Sign a checkpoint for the head now (workers do this within a second) and print it."""
    from ledger.checkpoints import sign_head
    from ledger.db import transaction

    services = services_of(ctx)
    with transaction(services.sessions) as session:
        row = sign_head(session, services.log_key)
    click.echo(row.note, nl=False)


def _read_proof(source: str, size: int | None) -> str:
    """A proof file's text from a path or a URL; a receipt's /r/<seq> link fetches the proof
    against checkpoint ``size`` (the receipt's), or the latest one without it."""
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https"):
        return Path(source).read_text(encoding="utf-8")
    import requests

    path, query = parts.path, parts.query
    segments = path.rstrip("/").split("/")
    if len(segments) >= 2 and segments[-2] == "r" and segments[-1].isdigit():
        prefix = "/".join(segments[:-2])
        path = f"{prefix}/api/ledger/{segments[-1]}/proof"
        query = f"size={size}" if size is not None else ""
    url = parts._replace(path=path, query=query, fragment="").geturl()
    response = requests.get(url, timeout=(5, 30))
    if response.status_code != 200:
        raise click.ClickException(f"{url}: HTTP {response.status_code} {response.text[:200]}")
    return response.text


@click.command("verify-receipt")
@click.argument("source")
@click.option("--vkey", "vkey_", required=True, help="The log's verifier key, pinned.")
@click.option("--origin", default=None, help="Require this checkpoint origin.")
@click.option("--hash", "hash_prefix", default=None, help="The hash digits the receipt gave.")
@click.option("--size", type=click.IntRange(1), default=None, help="The receipt's tree size.")
@click.option("--root", "root_prefix", default=None, help="The root digits the receipt gave.")
@click.option("--witness", "witnesses", multiple=True, help="A witness key to count (repeat).")
@click.option("--quorum", default=0, show_default=True, help="Witness cosignatures required.")
def verify_receipt_command(
    source: str,
    vkey_: str,
    origin: str | None,
    hash_prefix: str | None,
    size: int | None,
    root_prefix: str | None,
    witnesses: tuple[str, ...],
    quorum: int,
) -> None:
    """Check a proof file (PATH or URL) offline: signature, entry and inclusion path.

    With --size and --root (a receipt's "tree N root DIGITS"), the proof must be against that
    very checkpoint, so the digits a contributor was texted are checked too."""
    from bot.transparency.receipt import ReceiptError, verify_receipt

    try:
        text = _read_proof(source, size)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {source}: {exc}") from None
    try:
        found = verify_receipt(
            text,
            vkey_,
            origin=origin,
            witness_keys=witnesses,
            quorum=quorum,
            hash_prefix=hash_prefix,
            size=size,
            root_prefix=root_prefix,
        )
    except ReceiptError as exc:
        click.echo(f"NOT VERIFIED: {exc}", err=True)
        sys.exit(1)
    entry, signed = found.entry, found.checkpoint
    click.echo(
        f"ok: entry #{entry['seq']} ({entry['kind']} on {entry['slug']}) hash {found.hash}\n"
        f"    is in {signed.origin} at tree size {signed.size}, root {signed.root.hex()}"
        + (f"\n    cosigned by {', '.join(found.witnesses)}" if found.witnesses else "")
    )
