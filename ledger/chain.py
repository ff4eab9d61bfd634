"""The hash chain: the public entry format, appending, and verification.

The format is a public contract (see README, "Ledger entry format") so that anyone can check
the ledger without our code: an entry is ``{seq, kind, slug, payload, prev_hash, created_at,
hash}`` and ``hash`` is the SHA-256 of the canonical JSON of the other six fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from ledger.models import LedgerEntry, LedgerHead, TreeNode
from ledger.tlog.merkle import Frontier, leaf_hash
from ledger.tlog.tiles import MAX_ENTRY_SIZE

MAX_ENTRY_BYTES = MAX_ENTRY_SIZE
GENESIS_HASH = "0" * 64
HASHED_FIELDS = ("seq", "kind", "slug", "payload", "prev_hash", "created_at")


class PayloadError(ValueError):
    """The payload is not plain JSON data without floats, so its hash would not be portable."""


# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), with the encoder
# built once instead of on every call (appends, verify and monitors run this per entry).
canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {name: entry[name] for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def check_payload(value: Any, path: str = "payload") -> None:
    """Floats are refused because their text form differs between languages and versions."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PayloadError(f"{path} is not valid Unicode text") from exc
        return
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_payload(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"{path} has a non-string key {key!r}")
            check_payload(key, f"{path} key")
            check_payload(item, f"{path}.{key}")
        return
    raise PayloadError(f"{path} is a {type(value).__name__}; only str, int, bool, null, list, dict")


def timestamp(now: datetime | None = None) -> str:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public_entry(row: LedgerEntry | Any) -> dict[str, Any]:
    """The entry exactly as it was hashed, plus its hash."""
    return {
        "seq": row.seq,
        "kind": row.kind,
        "slug": row.slug,
        "payload": json.loads(row.payload),
        "prev_hash": row.prev_hash,
        "created_at": row.created_at,
        "hash": row.hash,
    }


_ENTRIES = LedgerEntry.__table__
_HEAD = LedgerHead.__table__
# Built once: the append path runs for every message, and statement construction showed up
# as a large share of its cost in bench/ (the ORM's add + flush per entry even more so).
_LOCK_HEAD = (
    select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.tree).where(_HEAD.c.id == 1).with_for_update()
)
_INSERT = insert(_ENTRIES)
_INSERT_NODES = insert(TreeNode.__table__)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)


# json.dumps(str, ensure_ascii=False) without the encoder set-up (the C fast path when present).
_json_string = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring


@dataclass(frozen=True, slots=True)
class Appended:
    """An entry as written (payload as its canonical JSON text)."""

    seq: int
    kind: str
    slug: str
    payload: str
    prev_hash: str
    created_at: str
    hash: str


def leaf_text(seq: int, kind: str, slug: str, payload_json: str, prev_hash: str, created_at: str):
    """The canonical JSON of an entry without its hash, from the payload's canonical text.

    These bytes are both what ``hash`` is the SHA-256 of and the entry's leaf in the Merkle
    tree (``ledger.tree``), so the chain and the tree commit to exactly the same thing. Keys in
    sorted order, as json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    writes them (tests check the two agree); the payload is serialized once.
    """
    quote = _json_string
    return (
        f'{{"created_at":{quote(created_at)},"kind":{quote(kind)},"payload":{payload_json},'
        f'"prev_hash":{quote(prev_hash)},"seq":{int(seq)},"slug":{quote(slug)}}}'
    )


def leaf_bytes(row: Any) -> bytes:
    """The leaf of a stored entry (anything with the entry's columns)."""
    return leaf_text(
        row.seq, row.kind, row.slug, row.payload, row.prev_hash, row.created_at
    ).encode("utf-8")


def _hashed_row(seq: int, kind: str, slug: str, payload, prev_hash: str, created_at: str):
    if not isinstance(payload, Mapping):
        raise PayloadError("payload must be a JSON object")
    payload = dict(payload)
    check_payload(payload)
    payload_json = canonical_json(payload)
    data = leaf_text(seq, kind, slug, payload_json, prev_hash, created_at).encode("utf-8")
    if len(data) > MAX_ENTRY_BYTES:
        # Entry bundles (C2SP tlog-tiles) length-prefix each entry with 16 bits: an entry the
        # log could not serve must not be written at all.
        raise PayloadError(
            f"the entry would be {len(data):,} bytes; the ledger's limit is {MAX_ENTRY_BYTES:,}"
        )
    row = {
        "seq": seq,
        "kind": kind,
        "slug": slug,
        "payload": payload_json,
        "prev_hash": prev_hash,
        "created_at": created_at,
        "hash": hashlib.sha256(data).hexdigest(),
    }
    return row, data


def append(
    session: Session,
    kind: str,
    slug: str,
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> Appended:
    """Add one entry inside the caller's transaction.

    The head row is locked first (``FOR UPDATE`` on PostgreSQL; on SQLite the transaction
    already holds the write lock from ``BEGIN IMMEDIATE``), so concurrent appenders queue up
    behind each other instead of forking the chain. ``UNIQUE(prev_hash)`` is the backstop.
    """
    return append_many(session, [(kind, slug, payload)], now=now)[0]


def append_many(
    session: Session,
    items: Iterable[tuple[str, str, Mapping[str, Any]]],
    *,
    now: datetime | None = None,
) -> list[Appended]:
    """Append several entries with one head lock and one multi-row insert (imports)."""
    # Core on the session's own connection: same transaction, none of the ORM's per-statement
    # bookkeeping (a third of an append's cost). No flush is needed: nothing references a
    # ledger entry by foreign key, so the order of writes inside the transaction is free.
    conn = session.connection()
    seq, prev_hash, tree = _locked_head(conn)
    frontier = Frontier.from_bytes(seq, tree or b"")
    created_at = timestamp(now)
    rows, nodes = [], []
    for kind, slug, payload in items:
        seq += 1
        row, data = _hashed_row(seq, kind, slug, payload, prev_hash, created_at)
        rows.append(row)
        nodes.extend(frontier.append(leaf_hash(data)))
        prev_hash = row["hash"]
    if not rows:
        return []
    conn.execute(_INSERT, rows)
    # The tree in the same transaction: a committed entry is always in the tree, and the
    # head's frontier always matches the head's seq.
    conn.execute(_INSERT_NODES, [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])
    tree = frontier.to_bytes()
    conn.execute(_MOVE_HEAD, {"seq": seq, "hash": prev_hash, "tree": tree})
    conn.info[_HEAD_KEY] = (_transaction_of(conn), seq, prev_hash, tree)
    return [Appended(**row) for row in rows]


_HEAD_KEY = "ledger_head_written"


def _transaction_of(conn):
    return conn.get_nested_transaction() or conn.get_transaction()


def _locked_head(conn) -> tuple[int, str, bytes | None]:
    """The head, locked: read (``FOR UPDATE``) on a transaction's first append, and taken from
    what its last append wrote on the next ones (an inbound job appends a question entry for
    every message of a batch). Only ``append_many`` moves the head, the lock is held until the
    transaction ends, and the memo names the very transaction (a savepoint's own, if any) it
    was written in, so a rolled-back savepoint or a later transaction reads the row again."""
    memo = conn.info.get(_HEAD_KEY)
    if memo is not None and memo[0] is _transaction_of(conn):
        return memo[1], memo[2], memo[3]
    return conn.execute(_LOCK_HEAD).one()


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)).one()
    return row.seq, row.hash


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
        }


def _find_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_find_float(v) for v in value)
    if isinstance(value, dict):
        return any(_find_float(v) for v in value.values())
    return False


def verify_rows(rows: Iterable[Any], on_entry: Callable[[int], None] | None = None) -> VerifyResult:
    """Check a stream of entries in seq order, holding only the previous hash in memory."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, expected_seq - 1, prev_hash, seq, reason)

    for row in rows:
        if row.seq != expected_seq:
            return bad(expected_seq, f"expected seq {expected_seq}, found {row.seq}")
        if row.prev_hash != prev_hash:
            return bad(row.seq, "prev_hash does not match the hash of the entry before it")
        try:
            payload = json.loads(row.payload)
        except ValueError:
            return bad(row.seq, "payload is not valid JSON")
        if not isinstance(payload, dict) or _find_float(payload):
            return bad(row.seq, "payload is not a JSON object of integers, strings and lists")
        entry = {
            "seq": row.seq,
            "kind": row.kind,
            "slug": row.slug,
            "payload": payload,
            "prev_hash": row.prev_hash,
            "created_at": row.created_at,
        }
        if entry_hash(entry) != row.hash:
            return bad(row.seq, "hash does not match the entry's contents")
        prev_hash = row.hash
        expected_seq += 1
        checked += 1
        if on_entry is not None:
            on_entry(row.seq)
    return VerifyResult(True, checked, expected_seq - 1, prev_hash)


def stream_entries(conn: Connection, batch: int = 2000) -> Iterator[Any]:
    table = LedgerEntry.__table__
    result = conn.execution_options(stream_results=True, max_row_buffer=batch).execute(
        select(
            table.c.seq,
            table.c.kind,
            table.c.slug,
            table.c.payload,
            table.c.prev_hash,
            table.c.created_at,
            table.c.hash,
        ).order_by(table.c.seq)
    )
    yield from result


def verify(conn: Connection, on_entry: Callable[[int], None] | None = None) -> VerifyResult:
    """Verify the whole chain, then check that it reaches the head row and passes through it.

    The head is read first: on PostgreSQL (READ COMMITTED) every statement sees a newer
    snapshot, so entries appended while the chain streams legitimately end past that head.
    """
    head_row = conn.execute(
        select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)
    ).one_or_none()
    if head_row is None:
        return VerifyResult(False, 0, 0, GENESIS_HASH, 0, "the head row is missing")
    hash_at_head = GENESIS_HASH if head_row.seq == 0 else None

    def rows() -> Iterator[Any]:
        nonlocal hash_at_head
        for row in stream_entries(conn):
            if row.seq == head_row.seq:
                hash_at_head = row.hash
            yield row

    result = verify_rows(rows(), on_entry)
    if not result.ok:
        return result
    if result.head_seq < head_row.seq:
        reason = f"the head says seq {head_row.seq} but the chain ends at seq {result.head_seq}"
        bad_seq = result.head_seq + 1
    elif hash_at_head != head_row.hash:
        reason = f"the head's hash is not the hash of entry {head_row.seq}"
        bad_seq = head_row.seq
    else:
        return result
    return VerifyResult(False, result.checked, result.head_seq, result.head_hash, bad_seq, reason)
