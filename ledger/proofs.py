"""An entry's proof as one self-contained file (C2SP tlog-proof@v1).

The file carries the entry itself (its leaf bytes, in the ``extra`` line: the spec's place for
"data necessary to reconstruct the record hash"), the inclusion path, and the signed
checkpoint with whatever witness cosignatures it has. With only the log's verifier key, anyone
can check offline that the entry is in the tree the log signed (``bot.transparency.receipt``,
and the README's stand-alone verifier). The extra line is not trusted by itself: it is the
inclusion proof that binds it to the signed root.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from ledger import checkpoints, tree
from ledger.chain import leaf_bytes
from ledger.models import LedgerEntry
from ledger.tlog.checkpoint import TlogProof


class NoProof(LookupError):
    """No such entry, or no signed checkpoint covers it (yet, or of that size)."""


def entry_proof(conn: Connection, seq: int, size: int | None = None) -> TlogProof:
    """Entry ``seq`` proved against checkpoint ``size`` (default: the latest one)."""
    row = conn.execute(select(LedgerEntry.__table__).where(LedgerEntry.seq == seq)).one_or_none()
    if row is None:
        raise NoProof(f"no ledger entry {seq}")
    checkpoint = checkpoints.latest(conn) if size is None else checkpoints.at_size(conn, size)
    if checkpoint is None:
        raise NoProof(f"no signed checkpoint of size {size}" if size else "no checkpoint yet")
    if checkpoint.size < seq:
        raise NoProof(
            f"entry {seq} is not in a signed checkpoint yet (latest: {checkpoint.size}); "
            "one is signed within a second"
        )
    hashes = tree.inclusion(conn, seq - 1, checkpoint.size)
    return TlogProof(
        index=seq - 1,
        hashes=tuple(hashes),
        checkpoint=checkpoints.served_note(conn, checkpoint),
        extra=leaf_bytes(row),
    )
