"""The grown database of bench/stage_growth.py, bulk-built (not timed as a result).

What a deployment holds after a long while: a ledger of about a million entries, a hundred
articles and a hundred thousand people who have written, each with a question node. Built on
an empty, migrated :class:`bench.harness.Stack` (``demo=False``) in three steps:

1. the chain: :func:`bench.stage_tlog.build_ledger` (entries by the public formula *and* their
   Merkle tree and head frontier, so later appends extend a consistent tree); on PostgreSQL
   the same builder fills a SQLite file whose rows are then copied over with COPY;
2. the articles, through the importer on top of that chain (real hash-chained entries, source
   and claim rows): the demo article under ``semax`` (the slug the traffic asks about, with
   the same six claims a fresh stack has), then ``selank``, ``bpc-157`` and ``noopept`` (the
   other slugs the generated entries carry) and synthetic ``compound-NNN`` articles, each a
   copy of the demo under its own title;
3. contacts (numbers no benchmark message comes from, so the worker's contact upserts insert
   as on a fresh database) and one question node each, pointing at the generated
   ``question`` entries (seq 5, 10, 15, ...) under those entries' articles.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.harness import Stack
from bench.stage_ledger import payload
from bench.stage_tlog import build_ledger

GENERATED_SLUGS = ("semax", "selank", "bpc-157", "noopept")  # bench.stage_ledger.generate's
ENTRIES_PER_ARTICLE = 13  # the demo article's import: 1 article, 6 source and 6 claim entries
CHUNK = 10_000


def build(stack: Stack, entries: int, articles: int, contacts: int) -> dict:
    """Fill ``stack``'s empty database; returns build seconds per step and the sizes."""
    bulk = entries - ENTRIES_PER_ARTICLE * articles
    if contacts * 5 > bulk:
        raise ValueError(f"{contacts} question nodes need {contacts * 5} generated entries")
    seconds = {}
    started = time.perf_counter()
    _chain(stack, bulk)
    seconds["chain"] = time.perf_counter() - started
    started = time.perf_counter()
    slugs = _import_articles(stack, articles)
    seconds["articles"] = time.perf_counter() - started
    started = time.perf_counter()
    _contacts_and_questions(stack, contacts)
    seconds["contacts"] = time.perf_counter() - started
    return {"build_s": seconds, "sizes": sizes(stack), "slugs": slugs[:5]}


def _chain(stack: Stack, count: int) -> None:
    if stack.backend == "sqlite":
        build_ledger(Path(stack.database_url.removeprefix("sqlite:///")), count)
        return
    from ledger.db import make_engine
    from ledger.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="ledgerbot-growth-") as folder:
        path = Path(folder) / "chain.sqlite3"
        engine = make_engine("sqlite:///" + str(path))
        upgrade(engine)
        engine.dispose()
        build_ledger(path, count)
        _copy_to_postgres(path, stack)


def _copy_to_postgres(path: Path, stack: Stack) -> None:
    """Entries, tree nodes and head from the SQLite file into the stack's PostgreSQL schema."""
    import sqlite3

    source = sqlite3.connect(str(path))
    raw = stack.services.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, columns in (
            ("ledger_entries", "seq, kind, slug, payload, prev_hash, created_at, hash"),
            ("ledger_tree", "level, idx, hash"),
        ):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {columns} FROM {table}"):
                    copy.write_row(row)
        seq, digest, tree = source.execute(
            "SELECT seq, hash, tree FROM ledger_head WHERE id = 1"
        ).fetchone()
        cursor.execute(
            "UPDATE ledger_head SET seq = %s, hash = %s, tree = %s WHERE id = 1",
            (seq, digest, tree),
        )
        raw.commit()
    finally:
        raw.close()
        source.close()


def article_slugs(count: int) -> list[str]:
    return list(GENERATED_SLUGS[:count]) + [f"compound-{i:03d}" for i in range(4, count)]


def _import_articles(stack: Stack, count: int) -> list[str]:
    """The demo article under ``semax`` exactly as a fresh stack has it, then copies of it."""
    from bot.catalogue.demo import DEMO_ARTICLE
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article

    demo = DEMO_ARTICLE.read_text(encoding="utf-8")
    _title, rest = demo.split("\n", 1)
    slugs = article_slugs(count)
    for i, slug in enumerate(slugs):
        body = demo if i == 0 else f"{slug.title()}: growth article {i}\n{rest}"
        with transaction(stack.services.sessions) as session:
            import_article(session, parse_article(body, slug=slug))
    return slugs


def _contacts_and_questions(stack: Stack, count: int) -> None:
    """``count`` contacts, and a question node each on a generated ``question`` entry."""
    from bot.messaging.models import Contact
    from ledger.db import transaction
    from ledger.models import Article, QuestionNode

    now = datetime.now(UTC)
    with transaction(stack.services.sessions) as session:
        by_slug = dict(session.execute(select(Article.slug, Article.id)).all())
        for start in range(0, count, CHUNK):
            session.execute(
                insert(Contact.__table__),
                [
                    {
                        "channel": "sms",
                        "number": f"+1555{8_000_000 + i:07d}",  # not bench traffic's numbers
                        "pseudonym": f"p-{i:016x}",
                        "opted_out": False,
                        "last_inbound_at": now,
                        "created_at": now,
                    }
                    for i in range(start, min(start + CHUNK, count))
                ],
            )
        ids = session.scalars(select(Contact.id).order_by(Contact.id)).all()
        for start in range(0, count, CHUNK):
            rows = []
            for i in range(start, min(start + CHUNK, count)):
                seq = 5 * (i + 1)  # generate(): kind "question" at every fifth seq
                rows.append(
                    {
                        "article_id": by_slug[GENERATED_SLUGS[seq % 4]],
                        "text": payload(seq)["question"],
                        "asker": f"p-{i:016x}",
                        "contact_id": ids[i],
                        "status": "open",
                        "created_at": now,
                        "ledger_seq": seq,
                    }
                )
            session.execute(insert(QuestionNode.__table__), rows)


def sizes(stack: Stack) -> dict[str, int]:
    from bot.messaging.models import Contact
    from ledger.models import Article, Claim, LedgerEntry, QuestionNode, TreeNode

    with stack.services.read_sessions() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in (
                ("ledger entries", LedgerEntry),
                ("tree nodes", TreeNode),
                ("articles", Article),
                ("claims", Claim),
                ("question nodes", QuestionNode),
                ("contacts", Contact),
            )
        }
