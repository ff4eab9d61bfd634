"""Watching a ledger from outside: what gives its signed checkpoints their worth.

``ledgerbot verify`` recomputes the chain inside the log's own database, so whoever can write
that database can change an entry, re-hash everything after it, rebuild the tree, and verify
still passes. Only someone outside who remembers what the log signed can tell. A monitor keeps
the last checkpoint it verified and the tree's right edge at that size (a ``Frontier``: one hash
per set bit of the size), and each round checks that the newly signed checkpoint extends it:
a consistency proof between the two roots; then every new entry, read from the entry bundles,
re-hashed into the frontier (the root must come out as signed), its level-0 tile compared and
the JSON API's copy compared. With nothing new, it still re-reads the tiles' root and the last
entry, because any rewrite that keeps verify passing changes both. A failure is *evidence*
(``Misbehaviour``): the signed notes and the failing data go to a file a third party can check.
Catch-up streams bundle by bundle and page by page with a few requests in flight (threads), so
memory stays flat however large the log.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.transparency.remote import (
    AHEAD,
    MonitorError,
    NetworkError,
    Remote,
    ahead,
    ranges,
    tile_fetcher,
)
from ledger.chain import GENESIS_HASH, canonical_json
from ledger.media import SHA256, committed, problem
from ledger.tlog.checkpoint import Checkpoint, CheckpointError
from ledger.tlog.merkle import Frontier, ProofError, leaf_hash, verify_consistency
from ledger.tlog.notes import NoteError, Verifier, open_note
from ledger.tlog.tiles import TILE_WIDTH, TileReader, entries_path, tile_path, tile_width

API_PAGE = 1000  # bot.web.limits.PAGE_MAX (bot.web is a layer above this one)
ROLLBACK, FORK, MISMATCH = "ROLLBACK", "FORK", "MISMATCH"


class Misbehaviour(Exception):
    """Data signed by the pinned key contradicting what was verified before, or the log's
    served data contradicting its signed root: evidence, exit 2."""

    def __init__(self, kind: str, message: str, **details: Any) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.details = kind, message, details


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class State:
    """What the monitor verified of one log: the pins (vkey, origin) and the tree it saw."""

    vkey: str
    origin: str | None = None
    frontier: Frontier = field(default_factory=Frontier)
    last_hash: str = GENESIS_HASH
    checkpoint: str | None = None  # the signed note of size frontier.size, verbatim

    @property
    def size(self) -> int:
        return self.frontier.size

    @property
    def root(self) -> bytes:
        return self.frontier.root()


@dataclass(frozen=True)
class Round:
    """One verified round: the log's origin, the sizes before and after, the state to keep."""

    origin: str
    old_size: int
    new_size: int
    state: State


def check_round(remote: Remote, state: State) -> Round:
    """Fetch and verify the log's signed checkpoint against ``state``; raise Misbehaviour with
    both signed notes attached, MonitorError when it cannot tell."""
    note = remote.get("/tlog/checkpoint")
    try:
        signed = Checkpoint.parse(open_note(note, [Verifier.from_vkey(state.vkey)]).text)
    except (NoteError, CheckpointError) as exc:
        raise MonitorError(f"the checkpoint is not one signed by the pinned key: {exc}") from None
    note_text = note.decode("utf-8")  # open_note has checked it is UTF-8
    if state.origin is not None and signed.origin != state.origin:
        raise MonitorError(f"the checkpoint's origin is {signed.origin!r}, not {state.origin!r}")
    try:
        new_state = _advance(remote, state, signed, note_text)
    except Misbehaviour as exc:
        notes = {"previous_checkpoint": state.checkpoint, "new_checkpoint": note_text}
        exc.details = notes | exc.details
        raise
    return Round(signed.origin, state.size, signed.size, new_state)


def _advance(remote: Remote, state: State, signed: Checkpoint, note: str) -> State:
    """Compare sizes and roots; the state to keep once every check of this round passed."""
    old, new = state.size, signed.size
    if new < old:
        raise Misbehaviour(ROLLBACK, f"the log now signs size {new}, after signing size {old}")
    if new == old:
        if signed.root != state.root:
            raise Misbehaviour(FORK, f"the log signed two different roots for size {old}")
        _recheck_head(remote, state, signed)
        return dataclasses.replace(state, origin=signed.origin, checkpoint=state.checkpoint or note)
    if old:
        _check_consistency(remote, state, signed)
    frontier, last_hash = _catch_up(remote, state, signed)
    return State(state.vkey, signed.origin, frontier, last_hash, note)


def _check_consistency(remote: Remote, state: State, signed: Checkpoint) -> None:
    """The new signed root must extend the old one (RFC 9162 consistency proof)."""
    answer = remote.json("/api/ledger/consistency", {"from": state.size, "to": signed.size})
    try:
        hashes = [base64.b64decode(h, validate=True) for h in answer["hashes"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"malformed consistency proof: {exc!r}") from None
    try:
        verify_consistency(state.size, signed.size, hashes, state.root, signed.root)
    except ProofError as exc:
        why = f"the log cannot prove that size {signed.size} extends size {state.size} ({exc})"
        if answer.get("from_root") != _b64(state.root):
            why += f"; its tree at size {state.size} no longer has the root it signed"
        proof = {"request": {"from": state.size, "to": signed.size}, "response": answer}
        raise Misbehaviour(FORK, why, proof=proof | {"error": str(exc)}) from None


def _recheck_head(remote: Remote, state: State, signed: Checkpoint) -> None:
    """Nothing new: the tiles must still give the signed root, and the API's last entry must
    still be the one verified (any rewrite that keeps ``verify`` passing changes both)."""
    if not state.size:
        return
    reader = TileReader(tile_fetcher(remote), state.size)
    _check_tiles_root(reader, signed)
    with _tiles_checked():
        leaf = reader.leaf_hashes(state.size - 1, state.size)[0]
    entry = _read_page(remote, (state.size - 1, 1))[0]
    body = {k: v for k, v in entry.items() if k != "hash"} if isinstance(entry, dict) else None
    same = leaf_hash(canonical_json(body).encode("utf-8", "surrogatepass")) == leaf
    if not same or body is None or entry.get("hash") != state.last_hash:
        message = f"the API's entry {state.size} is not the entry verified under the signed root"
        details = {"seq": state.size, "api_entry": entry, "verified_hash": state.last_hash}
        raise Misbehaviour(MISMATCH, message, entry=details)


def _catch_up(remote: Remote, state: State, signed: Checkpoint) -> tuple[Frontier, str]:
    """Every entry in [old size, new size): bundles checked against their level-0 tiles by
    TileReader, each leaf hash appended to a copy of the frontier, the API's copy compared."""
    frontier, last_hash = state.frontier.copy(), state.last_hash
    fetch = tile_fetcher(remote)
    with ThreadPoolExecutor(3 * AHEAD, thread_name_prefix="monitor") as pool:
        spans = ranges(state.size, signed.size, TILE_WIDTH)
        bundles = _bundles(pool, fetch, signed.size, spans)
        wanted = ((a, b - a) for a, b in ranges(state.size, signed.size, API_PAGE))
        pages = ahead(pool, lambda span: _read_page(remote, span), wanted)
        api_entries = (entry for page in pages for entry in page)
        for begin, leaves, hashes in bundles:
            for index, (leaf, digest) in enumerate(zip(leaves, hashes, strict=True), begin):
                entry = next(api_entries)
                last_hash = _check_entry(index, leaf, entry, last_hash)
                _check_files(remote, index + 1, entry)
                frontier.append(digest)
    if frontier.root() != signed.root:
        message = f"the entries {state.size + 1}..{signed.size} do not hash to the signed root"
        raise Misbehaviour(MISMATCH, message, computed_root=_b64(frontier.root()))
    _check_tiles_root(TileReader(fetch, signed.size), signed)
    return frontier, last_hash


@contextlib.contextmanager
def _tiles_checked() -> Iterator[None]:
    """TileReader's ValueError: the log's tiles and bundles contradict each other."""
    try:
        yield
    except ValueError as exc:
        raise Misbehaviour(MISMATCH, f"the log's tiles are inconsistent: {exc}") from None


def _check_tiles_root(reader: TileReader, signed: Checkpoint) -> None:
    """The tiles above level 0 must give the signed root too (bundles only check level 0)."""
    with _tiles_checked():
        tiles_root = reader.root()
    if tiles_root != signed.root:
        message = f"the log's tiles at size {reader.size} do not hash to the root it signed"
        raise Misbehaviour(MISMATCH, message, tiles={"size": reader.size, "root": _b64(tiles_root)})


def _check_entry(index: int, leaf: bytes, entry: Any, prev_hash: str) -> str:
    """The API's entry must be the signed leaf (canonical JSON without "hash"), its hash the
    leaf's SHA-256, and the leaf must continue the chain. Returns that hash."""
    digest = hashlib.sha256(leaf).hexdigest()
    problem, claimed = None, None
    if not isinstance(entry, dict):
        problem = "the API's entry is not a JSON object"
    else:
        claimed = entry.pop("hash", None)
        if canonical_json(entry).encode("utf-8", "surrogatepass") != leaf:
            problem = "the API's entry is not the entry in the signed tree"
        elif claimed != digest:
            problem = "the API's hash is not the SHA-256 of the entry"
        elif type(entry.get("seq")) is not int or entry["seq"] != index + 1:
            problem = f"leaf {index} does not have seq {index + 1}"
        elif entry.get("prev_hash") != prev_hash:
            problem = f"entry {index + 1}'s prev_hash is not the hash of the entry before it"
        entry["hash"] = claimed
    if problem is None:
        return digest
    details = {"index": index, "seq": index + 1, "leaf": leaf.decode("utf-8", "replace")}
    details |= {"leaf_sha256": digest, "expected_prev_hash": prev_hash, "api_entry": entry}
    raise Misbehaviour(MISMATCH, f"entry {index + 1}: {problem}", entry=details)


def _check_files(remote: Remote, seq: int, entry: dict) -> None:
    """An evidence entry's files, downloaded from /media/<sha256> and checked against the
    hash, size and type it commits to (``ledger.media``): a log that lost or swapped a
    published file misbehaves as surely as one that altered the entry."""
    for item in committed(entry.get("payload")):
        sha256 = str(item.get("sha256", ""))
        try:
            data = remote.get(f"/media/{sha256}") if SHA256.fullmatch(sha256) else None
        except NetworkError as exc:
            if exc.status != 404:
                raise
            data = None
        found = problem(seq, item, data)
        if found:
            raise Misbehaviour(MISMATCH, f"published file: {found}", entry=entry, file=item)


def _bundles(
    pool: ThreadPoolExecutor, fetch: Callable[[str], bytes], size: int, spans: Iterable
) -> Iterator[tuple[int, list[bytes], list[bytes]]]:
    """(begin, leaves, leaf hashes) for each span of one bundle, through a TileReader of its own
    (memory does not grow with the log); each bundle and its level-0 tile are fetched ahead,
    both at once, as TileReader alone would fetch one after the other."""

    def paths(span: tuple[int, int]) -> tuple[str, str]:
        index = span[0] // TILE_WIDTH
        width = tile_width(0, index, size)
        return entries_path(index, width), tile_path(0, index, width)

    spans, lookahead = itertools.tee(spans)
    fetched = ahead(pool, fetch, (path for span in lookahead for path in paths(span)), 2 * AHEAD)
    for begin, end in spans:
        ready = {path: next(fetched) for path in paths((begin, end))}
        reader = TileReader(lambda path, ready=ready: ready.pop(path, None) or fetch(path), size)
        with _tiles_checked():
            leaves, hashes = reader.entries(begin, end), reader.leaf_hashes(begin, end)
        yield begin, leaves, hashes


def _read_page(remote: Remote, span: tuple[int, int]) -> list[Any]:
    """API entries after seq ``after``: exactly ``limit`` of them, as the signed tree has them."""
    after, limit = span
    entries = remote.json("/api/ledger", {"after": after, "limit": limit}).get("entries")
    if not isinstance(entries, list):
        raise MonitorError(f"{remote.url}/api/ledger: not a ledger page")
    if len(entries) < limit:
        message = f"the API lists {len(entries)} of the {limit} entries after seq {after}"
        raise Misbehaviour(MISMATCH, message + " that the signed tree holds", api_after=after)
    return entries[:limit]
