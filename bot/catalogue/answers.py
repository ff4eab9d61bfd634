"""Answers from the ledger: the claims most relevant to a question, ranked by BM25.

Each process keeps one index per article (keyed by the database as well as the article:
article ids repeat across databases, and one process may talk to several). Claims are
append-only, so the index *grows*: a search first adds the claims committed since it last
looked, and nothing is rebuilt.

Staying current, on a read-only connection of its own (so the index never takes in a claim of
a transaction that may still roll back, such as the caller's own):

- the ledger head is where the index last saw it: nothing new (one row read);
- it moved: the article's ``claim`` and ``evidence`` entries past that head (read by seq, the
  ledger's key) say whether claims were added; if so their claims are read past the newest
  claim id the index holds and added. A claim's id is allocated after its entry, under the
  same head lock, so ids grow in commit order and the claims table's own index finds them;
  an entry whose claim is not found that way is logged and the index rebuilt;
- the entry at the index's head no longer has the hash the index saw: the ledger was
  replaced (a restored backup, a test database reset), so the index is rebuilt.

Building from scratch reads every claim of the article, about a second at 100,000 claims, so
it is kept out of write transactions: a worker warms every article's index at start
(:func:`start_warming`, a thread with read-only connections). A request that still finds no
index builds it on a read-only connection, once per process however many threads ask, and
logs a warning when its own session is a writing one (whose lock others wait on meanwhile),
as it does when such a request waits for another thread's build.

Memory: the index holds integers only (see :mod:`ledger.ranking`); the texts and source ids
of the few claims an answer quotes are read by id, and kept (:mod:`bot.catalogue.quotes`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from bot.catalogue.intent import preferred_tier
from bot.catalogue.quotes import Quotes, quoted
from ledger.db import reader
from ledger.models import Article, Claim, LedgerEntry, LedgerHead, Source
from ledger.ranking import Document, Index

log = logging.getLogger(__name__)

CLAIM_CHARS = 120
MAX_INDEXES = 64  # articles (per database) whose index one process keeps, least recent out
CLAIM_KINDS = ("claim", "evidence")  # the ledger entries that come with a claim row
_BATCH = 2000  # claims read per round trip while building


@dataclass(frozen=True)
class Cited:
    tier: str
    sid: str | None
    text: str

    def line(self) -> str:
        text = self.text if len(self.text) <= CLAIM_CHARS else self.text[: CLAIM_CHARS - 3] + "..."
        where = f", {self.sid}" if self.sid else ""
        return f"- {self.tier}{where}: {text}"


@dataclass
class _Entry:
    """One article's index and how far into the ledger it has read."""

    index: Index
    last_id: int  # the newest claim id in the index
    head: tuple[int, str]  # (seq, hash): the index holds every claim committed up to here
    ahead: frozenset[int] = frozenset()  # claim seqs past ``head`` already in (read later)
    lock: threading.Lock = field(default_factory=threading.Lock)
    quotes: Quotes = field(default_factory=Quotes)  # texts it quoted, by claim id


_entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
_builds: dict[tuple[str, int], threading.Lock] = {}
_lock = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _database_key(engine: Engine) -> str:
    """Which database: its URL (password hidden), a schema in its options is part of it."""
    return engine.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def _reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction of our own: committed rows only, never SQLite's write lock."""
    with reader(engine).connect() as conn, conn.begin():
        yield conn


def _head(conn: Connection) -> tuple[int, str]:
    seq, digest = conn.execute(
        select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)
    ).one()
    return seq, digest


def _claims(article_id: int, after_id: int):
    return (
        select(Claim.id, Claim.text, Claim.tier, Claim.ledger_seq, Source.title)
        .outerjoin(Source, Claim.source_id == Source.id)
        .where(Claim.article_id == article_id, Claim.id > after_id)
        .order_by(Claim.id)
    )


def _add(index: Index, row) -> None:
    index.add(Document(key=row.id, text=f"{row.text} {row.title or ''}", tier=row.tier))


def _build(conn: Connection, article_id: int) -> _Entry:
    # The head first: claims committed after it are read too, and are simply not new later.
    head = _head(conn)
    index, last_id, ahead = Index(keep_documents=False), 0, set()
    rows = conn.execution_options(yield_per=_BATCH).execute(_claims(article_id, 0))
    for row in rows:
        _add(index, row)
        last_id = row.id
        if row.ledger_seq is not None and row.ledger_seq > head[0]:
            ahead.add(row.ledger_seq)
    return _Entry(index, last_id, head, frozenset(ahead))


def _catch_up(conn: Connection, entry: _Entry, article_id: int, slug: str) -> bool:
    """Add the claims committed since the index last looked; False if it must be rebuilt."""
    head = _head(conn)
    if head == entry.head:
        return True
    seq, digest = entry.head
    if seq and conn.scalar(select(LedgerEntry.hash).where(LedgerEntry.seq == seq)) != digest:
        log.warning("answers: the ledger no longer holds entry %d as indexed; rebuilding", seq)
        return False
    # By seq alone, filtered here: the range is the few entries since the last look, and with
    # the slug in the WHERE PostgreSQL took the slug index over the key at 1,000,000 entries
    # (13 ms a search against 3.6 ms fresh, in the growth benchmark).
    since = conn.execute(
        select(LedgerEntry.seq, LedgerEntry.slug, LedgerEntry.kind).where(
            LedgerEntry.seq > seq, LedgerEntry.seq <= head[0]
        )
    )
    wanted = {n for n, at, kind in since if at == slug and kind in CLAIM_KINDS}
    wanted -= entry.ahead
    ahead = {later for later in entry.ahead if later > head[0]}
    if wanted:
        for row in conn.execute(_claims(article_id, entry.last_id)):
            _add(entry.index, row)
            entry.last_id = row.id
            wanted.discard(row.ledger_seq)
            if row.ledger_seq is not None and row.ledger_seq > head[0]:
                ahead.add(row.ledger_seq)
    if wanted:
        log.warning(
            "answers: claims of entries %s were not found past claim id %d; rebuilding",
            sorted(wanted),
            entry.last_id,
        )
        return False
    entry.head, entry.ahead = head, frozenset(ahead)
    return True


def _remember(key: tuple[str, int], entry: _Entry) -> None:
    with _lock:
        _entries[key] = entry
        _entries.move_to_end(key)
        while len(_entries) > MAX_INDEXES:
            _entries.popitem(last=False)


def _built(engine: Engine, key: tuple[str, int], stale: _Entry | None, writing: bool) -> _Entry:
    """Build the index once, however many threads need it at the same moment."""
    with _lock:
        building = _builds.setdefault(key, threading.Lock())
    asked = time.perf_counter()
    with building:
        entry = _entries.get(key)
        built = entry is None or entry is stale
        if built:  # else another thread built it while this one waited
            with _reading(engine) as conn:
                entry = _build(conn, key[1])
            _remember(key, entry)
    seconds = time.perf_counter() - asked
    where = "while the caller's write transaction was open" if writing else "read-only"
    if built:
        level = logging.WARNING if writing else logging.INFO
        log.log(
            level,
            "answers: built the index of article %d (%d claims) in %.2f s, %s",
            key[1],
            len(entry.index),
            seconds,
            where,
        )
    elif writing and seconds > 0.05:
        log.warning(
            "answers: waited %.2f s for the index of article %d to be built, %s",
            seconds,
            key[1],
            where,
        )
    return entry


def _current(engine: Engine, article_id: int, slug: str, writing: bool) -> _Entry:
    """The article's index, holding every committed claim; built only if there is none."""
    key = (_database_key(engine), article_id)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
    if entry is not None:
        with _reading(engine) as conn, entry.lock:
            if _catch_up(conn, entry, article_id, slug):
                return entry
    return _built(engine, key, entry, writing)


def _current_in(session: Session, engine: Engine, article: Article, writing: bool) -> _Entry:
    """:func:`_current`, once per article per writing transaction: an inbound job that
    handles several messages in one transaction (``bot.worker.take_along``) looks at the
    ledger head once, not once per question. On SQLite nothing else can commit while that
    transaction holds the write lock, so a second look would find the same head; on
    PostgreSQL a claim committed meanwhile is answered from the next transaction on (the
    batch's transaction is milliseconds long, far inside the 1 s that a newly approved claim
    may take to be answerable)."""
    if not writing:
        return _current(engine, article.id, article.slug, writing)
    transaction = session.get_transaction()
    memo = session.info.get("answers_current")
    if memo is None or memo[0] is not transaction:
        memo = session.info["answers_current"] = (transaction, {})
    entry = memo[1].get(article.id)
    if entry is None:
        entry = memo[1][article.id] = _current(engine, article.id, article.slug, writing)
    return entry


def article_index(session: Session, article: Article) -> Index:
    """The article's index, built or brought up to date (warming it before work starts)."""
    engine = _engine(session)
    return _current(engine, article.id, article.slug, writing=False).index


def relevant_claims(
    session: Session, article: Article, question: str, offset: int = 0, limit: int = 3
) -> list[Cited]:
    """The claims that answer ``question`` best, the tier it asks about first."""
    engine = _engine(session)
    writing = not engine.get_execution_options().get("readonly", False)
    entry = _current_in(session, engine, article, writing)
    prefer = preferred_tier(question)
    with entry.lock:
        hits = entry.index.search(question, limit, offset, prefer=prefer)
    if not hits:
        return []
    found = quoted(session, entry.quotes, [doc.key for doc, _ in hits])
    return [Cited(doc.tier, found[doc.key][1], found[doc.key][0]) for doc, _ in hits]


def warm(engine: Engine) -> int:
    """Build (or bring up to date) every article's index, outside any write transaction."""
    with _reading(engine) as conn:
        articles = conn.execute(select(Article.id, Article.slug).order_by(Article.id)).all()
    for article_id, slug in articles:
        _current(engine, article_id, slug, writing=False)
    return len(articles)


def start_warming(engine: Engine) -> threading.Thread:
    """Warm every index in a daemon thread, so a worker's first answers need no build."""

    def run() -> None:
        started = time.perf_counter()
        try:
            count = warm(engine)
        except Exception:
            log.exception("answers: warming the indexes failed; requests will build them")
            return
        log.info(
            "answers: %d article index(es) warm in %.2f s", count, time.perf_counter() - started
        )

    thread = threading.Thread(target=run, daemon=True, name="answers-warm")
    thread.start()
    return thread
