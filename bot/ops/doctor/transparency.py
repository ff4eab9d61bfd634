"""Doctor checks for the transparency log: its key and origin, its tree and checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.ops.doctor.checks import FAIL, OK, WARN, Check, is_production
from ledger.db import reader

CHECKPOINT_LAG = timedelta(seconds=10)


def check_ledger_key(settings) -> Check:
    """Read-only: never generates the key (``Services.log_key`` does, on first signing)."""
    from ledger.tlog.notes import Signer

    name = "LEDGER_SIGNING_KEY"
    origin = settings.log_origin
    if settings.ledger_signing_key:
        signer = Signer.from_skey(settings.ledger_signing_key)
        if is_production(settings) and origin == "localhost":
            return Check(name, WARN, "set, but the origin is 'localhost': set PUBLIC_URL")
        return Check(name, OK, f"set; origin {origin!r}, verifier key {signer.vkey}")
    generated = Path(settings.instance_path) / "ledger_signing_key"
    if generated.exists():
        signer = Signer.from_skey(generated.read_text().strip())
        where = f"generated in {generated} (verifier key {signer.vkey})"
    else:
        where = "will be generated in the instance folder"
    return Check(
        name,
        WARN,
        f"unset ({where}): monitors and receipts pin this key, so back it up, set "
        "LEDGER_SIGNING_KEY on every machine that runs workers or the web, and never lose it",
    )


def check_tree(services) -> Check:
    """The head's frontier, the stored tree and the latest signed checkpoint agree."""
    from ledger import checkpoints, tree
    from ledger.models import LedgerEntry, LedgerHead
    from ledger.tlog.checkpoint import Checkpoint, CheckpointError
    from ledger.tlog.merkle import Frontier
    from ledger.tlog.notes import NoteError, Verifier, open_note

    name = "ledger tree"
    with reader(services.engine).connect() as conn:
        row = conn.execute(
            LedgerHead.__table__.select().where(LedgerHead.__table__.c.id == 1)
        ).one()
        if Frontier.from_bytes(row.seq, row.tree or b"").root() != tree.root_at(conn, row.seq):
            return Check(name, FAIL, "the head's frontier and the stored tree disagree")
        latest = checkpoints.latest(conn)
        if latest is None:
            return Check(name, WARN, f"size {row.seq}, no checkpoint signed yet (is a worker up?)")
        if tree.root_at(conn, latest.size) != bytes(latest.root):
            return Check(name, FAIL, f"checkpoint {latest.size}'s root is not the tree's")
        # The oldest entry no checkpoint covers yet, and when it was appended.
        uncovered_at = conn.execute(
            select(LedgerEntry.created_at).where(LedgerEntry.seq == latest.size + 1)
        ).scalar_one_or_none()
    vkey = _vkey(services)
    if vkey is not None:
        try:
            signed = Checkpoint.parse(open_note(latest.note, [Verifier.from_vkey(vkey)]).text)
        except (NoteError, CheckpointError):
            return Check(name, FAIL, f"checkpoint {latest.size} is not signed by {vkey}")
        if (signed.size, signed.root) != (latest.size, bytes(latest.root)):
            return Check(name, FAIL, f"checkpoint {latest.size}'s note and row disagree")
        if signed.origin != services.settings.log_origin:
            return Check(
                name,
                FAIL,
                f"checkpoints are for origin {signed.origin!r} but this configuration signs "
                f"for {services.settings.log_origin!r}: set the same PUBLIC_URL or "
                "LEDGER_ORIGIN as the machines that signed them",
            )
    if uncovered_at is not None and _age(uncovered_at) > CHECKPOINT_LAG:
        behind = row.seq - latest.size
        return Check(
            name, WARN, f"{behind} entries not in a checkpoint for over 10 s: is a worker up?"
        )
    return Check(name, OK, f"size {row.seq}, latest checkpoint {latest.size} verifies")


def _age(created_at: str) -> timedelta:
    """How long ago an entry's ``created_at`` (ISO 8601 UTC, ``…Z``) was."""
    when = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return datetime.now(UTC) - when


def _vkey(services) -> str | None:
    """The verifier key if one exists (configured or generated), without generating one."""
    from ledger.tlog.notes import Signer

    settings = services.settings
    skey = settings.ledger_signing_key
    if not skey:
        path = Path(settings.instance_path) / "ledger_signing_key"
        if not path.exists():
            return None
        skey = path.read_text().strip()
    return Signer.from_skey(skey).vkey


__all__ = ["FAIL", "check_ledger_key", "check_tree"]
