"""Reading the Merkle tree the appends keep (``ledger.chain``): roots, proofs, tiles, bundles.

The tree is RFC 9162's over the entries' leaf bytes (``ledger.chain.leaf_bytes``); the
``ledger_tree`` table holds every complete subtree, so each proof or root is one primary-key
query for at most ~2·log2(size) rows, however large the ledger (``bench/``). The tile and
bundle readers serve the C2SP tlog-tiles API; a tile is immutable once served, because a
complete node never changes and a partial tile of width W is a prefix of every later one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Connection, TextClause, select, text

from ledger.chain import leaf_bytes
from ledger.models import LedgerEntry, LedgerHead, TreeNode
from ledger.tlog import merkle
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, encode_bundle, tile_width

_NODES = TreeNode.__table__
_ENTRIES = LedgerEntry.__table__


class CannotServe(LookupError):
    """The database cannot back this answer (it was cut or altered): a 404, never a 500."""


class MissingNodes(CannotServe):
    """The tree lacks nodes the size needs: the size is beyond the head, or the table was cut."""


def node_getter(conn: Connection) -> merkle.NodeGetter:
    """A ``merkle.NodeGetter`` backed by one query per call."""

    def get(ids: Sequence[merkle.NodeId]) -> list[bytes]:
        if not ids:
            return []
        params = {}
        for n, (level, idx) in enumerate(ids):
            params[f"l{n}"], params[f"i{n}"] = level, idx
        found = {
            (level, idx): digest
            for level, idx, digest in conn.execute(_point_lookups(len(ids)), params)
        }
        try:
            return [bytes(found[node]) for node in ids]
        except KeyError as exc:
            raise MissingNodes(f"the tree has no node {exc.args[0]}") from None

    return get


@functools.cache
def _point_lookups(count: int) -> TextClause:
    """``(level = ? AND idx = ?) OR …`` as text, one statement per count, built once.

    Measured at 200,000 entries (bench/stage_tlog.py): SQLite scans the whole table for a
    row-value ``(level, idx) IN (…)``, and building the equivalent Core ``or_()`` per call cost
    about 1 ms; this is a primary-key lookup per node (SQLite's MULTI-INDEX OR, PostgreSQL's
    BitmapOr) at tens of microseconds.
    """
    terms = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(count))
    return text(f"SELECT level, idx, hash FROM ledger_tree WHERE {terms}")


def tree_size(conn: Connection) -> int:
    return conn.execute(select(LedgerHead.seq).where(LedgerHead.id == 1)).scalar_one()


def root_at(conn: Connection, size: int) -> bytes:
    return merkle.root(size, node_getter(conn))


def inclusion(conn: Connection, index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(index, size, node_getter(conn))


def consistency(conn: Connection, size1: int, size2: int) -> list[bytes]:
    return merkle.consistency_proof(size1, size2, node_getter(conn))


def tile(conn: Connection, level: int, index: int, width: int, size: int) -> bytes | None:
    """The hash tile (level, index) of width ``width``, or None if the tree at ``size`` does
    not have that many hashes there yet (the spec's "not found")."""
    if width < 1 or width > tile_width(level, index, size):
        return None
    tree_level = level * TILE_HEIGHT
    first = index * TILE_WIDTH
    rows = conn.execute(
        select(_NODES.c.hash)
        .where(_NODES.c.level == tree_level)
        .where(_NODES.c.idx >= first, _NODES.c.idx < first + width)
        .order_by(_NODES.c.idx)
    ).all()
    if len(rows) != width:
        raise MissingNodes(f"tile {level}/{index} has {len(rows)} of {width} hashes")
    return b"".join(bytes(row.hash) for row in rows)


def entry_bundle(conn: Connection, index: int, width: int, size: int) -> bytes | None:
    """Entries index·256 … index·256 + width − 1 (seq = leaf index + 1), each as its leaf
    bytes, in the tlog-tiles bundle format; None if the tree at ``size`` is too small."""
    if width < 1 or width > tile_width(0, index, size):
        return None
    first_seq = index * TILE_WIDTH + 1
    rows = conn.execute(
        select(
            _ENTRIES.c.seq,
            _ENTRIES.c.kind,
            _ENTRIES.c.slug,
            _ENTRIES.c.payload,
            _ENTRIES.c.prev_hash,
            _ENTRIES.c.created_at,
        )
        .where(_ENTRIES.c.seq >= first_seq, _ENTRIES.c.seq < first_seq + width)
        .order_by(_ENTRIES.c.seq)
    ).all()
    if len(rows) != width:
        raise MissingNodes(f"entry bundle {index} has {len(rows)} of {width} entries")
    try:
        return encode_bundle([leaf_bytes(row) for row in rows])
    except ValueError as exc:  # an entry over 65,535 bytes, written around the append path
        raise CannotServe(f"entry bundle {index}: {exc}") from None
