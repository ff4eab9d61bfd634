"""Public pages without refolding the ledger: responses cached by the head they were made at,
and each article's entries folded once per process and then only extended.

Everything a public page or API response shows is a function of the ledger, plus a few things
outside it that are read on every request and made part of the key (evidence waiting for
review, the latest signed checkpoint). The ledger head (seq and hash) moves on every append,
so a response is cached under the head it was computed at and a page with a stale head can
never be served: the next request reads the new head and misses. Responses live in an LRU per
app (an app's settings shape its pages), bounded in entries and bytes; when the head moves
the older responses are dropped at once, since nothing will ask for them again.

A miss after an append still has to compute the page, which at 100,000 claims meant folding
every entry of the article again (a second: reading and JSON-decoding each payload). Entries
never change once written, so :func:`article_ledger` keeps each article's
:class:`ledger.stats.Fold` per process and adds only the entries after the head it folded up
to. The fold's head entry is checked to still have the hash it had, so a replaced database
(a restored backup, a reset test database) is folded afresh rather than extended.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Response, current_app
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger.models import LedgerEntry
from ledger.stats import FOLDED_KINDS, ArticleLedger, Fold

EXTENSION = "ledgerbot.response_cache"
MAX_BYTES = 32 * 1024 * 1024  # all cached responses of one app (one process)
MAX_ENTRY_BYTES = 4 * 1024 * 1024  # a larger response is made afresh every time
MAX_ENTRIES = 512
# Folds one process keeps, least recently used out: at most this many sources, claims and
# questions in all (about 0.4 KiB each: 100,000 claims are ~40 MiB), and at least the last one.
MAX_FOLDED = 300_000

Head = tuple[int, str]  # (seq, hash) of the ledger head


@dataclass(frozen=True)
class _Stored:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def response(self) -> Response:
        return Response(self.body, status=self.status, headers=list(self.headers))


class ResponseCache:
    """Whole 200 responses by (head, key); ``key`` names the view and all its inputs."""

    def __init__(
        self,
        max_bytes: int = MAX_BYTES,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.max_bytes, self.max_entry_bytes = max_bytes, max_entry_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[tuple, _Stored] = OrderedDict()
        self._head: Head | None = None
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, head: Head, key: tuple) -> Response | None:
        with self._lock:
            stored = self._items.get((head, key))
            if stored is None:
                self.misses += 1
                return None
            self._items.move_to_end((head, key))
            self.hits += 1
        return stored.response()

    def put(self, head: Head, key: tuple, response: Response) -> None:
        if response.status_code != 200 or response.direct_passthrough:
            return
        body = response.get_data()
        if len(body) > self.max_entry_bytes:
            return
        headers = tuple((k, v) for k, v in response.headers.items() if k != "Content-Length")
        with self._lock:
            if self._head is not None and head != self._head:
                if head[0] < self._head[0]:  # a request that read the head before an append
                    return
                self._items.clear()  # a newer (or another) ledger: nothing older is asked for
                self._bytes = 0
            self._head = head
            old = self._items.pop((head, key), None)
            self._bytes -= len(old.body) if old else 0
            self._items[(head, key)] = _Stored(response.status_code, headers, body)
            self._bytes += len(body)
            while self._items and (
                self._bytes > self.max_bytes or len(self._items) > self.max_entries
            ):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)


def response_cache() -> ResponseCache:
    """The current app's cache, made on first use."""
    extensions = current_app.extensions
    cache = extensions.get(EXTENSION)
    if cache is None:
        cache = extensions.setdefault(EXTENSION, ResponseCache())
    return cache


def cached(head: Head, key: tuple, make: Callable[[], object]) -> Response:
    """The response for ``key`` at ``head``: from the cache, else made and (if 200) kept.

    ``key`` must hold every input of the response that is not in the ledger, since the
    head is the only other thing that tells two responses apart.
    """
    cache = response_cache()
    hit = cache.get(head, key)
    if hit is not None:
        return hit
    response = current_app.make_response(make())
    cache.put(head, key, response)
    return response


@dataclass
class _Folded:
    fold: Fold
    head: Head
    lock: threading.Lock = field(default_factory=threading.Lock)


_folds: OrderedDict[tuple[str, str], _Folded] = OrderedDict()
_folds_lock = threading.Lock()


def _database(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def _rows(session: Session, slug: str, after: int, upto: int):
    return session.execute(
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.payload)
        .where(
            LedgerEntry.slug == slug,
            LedgerEntry.kind.in_(FOLDED_KINDS),
            LedgerEntry.seq > after,
            LedgerEntry.seq <= upto,
        )
        .order_by(LedgerEntry.seq)
    )


def _extended(session: Session, folded: _Folded, head: Head) -> bool:
    """Bring the fold forward to ``head``; False if the ledger is not the one it folded."""
    seq, digest = folded.head
    if seq and session.scalar(select(LedgerEntry.hash).where(LedgerEntry.seq == seq)) != digest:
        return False
    folded.fold.add(_rows(session, folded.fold.slug, seq, head[0]))
    folded.head = head
    return True


def article_ledger(session: Session, slug: str, head: Head) -> ArticleLedger:
    """The article's ledger up to ``head`` (read in ``session``, a read-only one: only
    committed entries may go into a fold that outlives the request)."""
    key = (_database(session), slug)
    with _folds_lock:
        folded = _folds.get(key)
        if folded is not None:
            _folds.move_to_end(key)
    if folded is not None:
        with folded.lock:
            if folded.head == head:
                return folded.fold.ledger()
            # A fold past this request's head was brought forward by a request that read the
            # head later (threads), or belongs to a replaced ledger: folded afresh below.
            if folded.head[0] < head[0] and _extended(session, folded, head):
                return folded.fold.ledger()
    fresh = _Folded(Fold(slug).add(_rows(session, slug, 0, head[0])), head)
    with _folds_lock:
        _folds[key] = fresh
        _folds.move_to_end(key)
        while len(_folds) > 1 and sum(len(f.fold) for f in _folds.values()) > MAX_FOLDED:
            _folds.popitem(last=False)
    return fresh.fold.ledger()


def article_ledgers(session: Session, slugs: list[str], head: Head) -> dict[str, ArticleLedger]:
    return {slug: article_ledger(session, slug, head) for slug in slugs}
