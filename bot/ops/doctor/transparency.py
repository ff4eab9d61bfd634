"""Doctor checks for the transparency log: its key and origin, its tree and checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    from ledger.models import LedgerHead
    from ledger.tlog.checkpoint import Checkpoint
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
    vkey = _vkey(services)
    if vkey is not None:
        try:
            Checkpoint.parse(open_note(latest.note, [Verifier.from_vkey(vkey)]).text)
        except NoteError:
            return Check(name, FAIL, f"checkpoint {latest.size} is not signed by {vkey}")
    signed_at = (
        latest.signed_at if latest.signed_at.tzinfo else latest.signed_at.replace(tzinfo=UTC)
    )
    behind = row.seq - latest.size
    if behind and datetime.now(UTC) - signed_at > CHECKPOINT_LAG:
        return Check(
            name, WARN, f"{behind} entries not in a checkpoint for over 10 s: is a worker up?"
        )
    return Check(name, OK, f"size {row.seq}, latest checkpoint {latest.size} verifies")


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
