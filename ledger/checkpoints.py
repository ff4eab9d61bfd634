"""Signed checkpoints (C2SP tlog-checkpoint): the log's signed statement of its size and root.

Every checkpoint ever signed is kept (``ledger_checkpoints``, append-only, one row per size:
two roots for one size cannot be stored). A checkpoint is signed

* by the checkpointer beside every worker (``bot.worker.checkpointer``), at most
  ``CHECKPOINT_INTERVAL_S`` after an append, batching everything appended meanwhile;
* inside an approval's own transaction, so the contributor's receipt can name a checkpoint
  that includes their entry the moment it is texted.

Both sign the head they see; two signers of the same size write the same bytes (Ed25519 is
deterministic and the body is a function of the size), so the loser's insert is a no-op.
Before signing, the root computed from the head's frontier must equal the root computed from
the stored tree: the log never signs a root it could not prove.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ledger import tree
from ledger.db import ignoring_conflicts
from ledger.models import Cosignature, LedgerHead, SignedCheckpoint
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import Frontier
from ledger.tlog.notes import NoteError, Signer, open_note, sign_note

CHECKPOINT_INTERVAL_S = 0.5

_CHECKPOINTS = SignedCheckpoint.__table__
_COSIGNATURES = Cosignature.__table__


class TreeMismatch(RuntimeError):
    """The head's frontier and the stored tree disagree: refuse to sign, tell an operator."""


class KeyMismatch(RuntimeError):
    """The latest checkpoint was signed by another key or for another origin: this process is
    configured differently from the one that signed it. Signing anyway would split the log's
    identity (monitors and witnesses would refuse it), so it does not sign."""


@dataclass(frozen=True)
class LogKey:
    """What signing needs: the key and the origin line it signs for."""

    signer: Signer
    origin: str

    @property
    def vkey(self) -> str:
        return self.signer.vkey


def latest(conn: Connection) -> SignedCheckpoint | None:
    row = conn.execute(
        select(_CHECKPOINTS).order_by(_CHECKPOINTS.c.size.desc()).limit(1)
    ).one_or_none()
    return row  # type: ignore[return-value]


def first_covering(conn: Connection, seq: int):
    """The first checkpoint that includes entry ``seq``: the one its receipt names."""
    return conn.execute(
        select(_CHECKPOINTS)
        .where(_CHECKPOINTS.c.size >= seq)
        .order_by(_CHECKPOINTS.c.size)
        .limit(1)
    ).one_or_none()


def at_size(conn: Connection, size: int):
    return conn.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.size == size)).one_or_none()


def sign_head(session: Session, key: LogKey, now: datetime | None = None):
    """Sign the head if no checkpoint covers it yet; the checkpoint that covers the head."""
    conn = session.connection()
    size, frontier_bytes = conn.execute(
        select(LedgerHead.seq, LedgerHead.tree).where(LedgerHead.id == 1)
    ).one()
    last = latest(conn)
    if last is not None and last.size >= size:
        return last
    if last is not None:
        _same_log(last.note, key)
    root = Frontier.from_bytes(size, frontier_bytes or b"").root()
    if tree.root_at(conn, size) != root:
        raise TreeMismatch(f"the head's frontier and the stored tree differ at size {size}")
    body = Checkpoint(key.origin, size, root).body()
    note = sign_note(body, [key.signer])
    values = {"size": size, "root": root, "note": note, "signed_at": now or datetime.now(UTC)}
    conn.execute(ignoring_conflicts(conn.dialect.name, _CHECKPOINTS), values)
    stored = at_size(conn, size)
    if stored.root != root:  # pragma: no cover - impossible while the tree is append-only
        raise TreeMismatch(f"a checkpoint of size {size} with another root is already stored")
    return stored


def _same_log(note: str, key: LogKey) -> None:
    try:
        signed = Checkpoint.parse(open_note(note, [key.signer.verifier()]).text)
    except NoteError:
        raise KeyMismatch(
            f"the latest checkpoint is not signed by {key.vkey}: every process must use the same "
            "LEDGER_SIGNING_KEY"
        ) from None
    if signed.origin != key.origin:
        raise KeyMismatch(
            f"the latest checkpoint is for origin {signed.origin!r}, this process signs for "
            f"{key.origin!r}: set the same PUBLIC_URL (or LEDGER_ORIGIN) everywhere"
        )


def add_cosignature(session: Session, size: int, witness: str, line: str) -> bool:
    """Keep a witness's cosignature line for checkpoint ``size``; False if already kept."""
    conn = session.connection()
    # psycopg reports rowcount -1 for an INSERT unless asked to keep it.
    statement = ignoring_conflicts(conn.dialect.name, _COSIGNATURES)
    result = conn.execute(
        statement.execution_options(preserve_rowcount=True),
        {"size": size, "witness": witness, "line": line, "received_at": datetime.now(UTC)},
    )
    return result.rowcount == 1


def cosignature_lines(conn: Connection, size: int) -> list[str]:
    return list(
        conn.execute(
            select(_COSIGNATURES.c.line)
            .where(_COSIGNATURES.c.size == size)
            .order_by(_COSIGNATURES.c.witness)
        ).scalars()
    )


def served_note(conn: Connection, row) -> str:
    """The checkpoint as published: the log's signed note plus the witnesses' lines."""
    note = row.note
    for line in cosignature_lines(conn, row.size):
        note += line if line.endswith("\n") else line + "\n"
    return note


def head_summary(conn: Connection, size: int | None = None) -> dict:
    """The tree's size and root at the head (or ``size``: the head the caller already read,
    which a concurrent append may have moved since), and the latest signed checkpoint."""
    size = tree.tree_size(conn) if size is None else size
    row = latest(conn)
    signed = None if row is None else {"size": row.size, "root": _b64(row.root)}
    return {"tree_size": size, "root": _b64(tree.root_at(conn, size)), "checkpoint": signed}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
