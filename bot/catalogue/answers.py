"""Answers from the ledger: the claims most relevant to a question, ranked by BM25.

The index of an article is built once per process and rebuilt only when the article's claims
change (its newest claim's ledger seq moves), so answering costs one search, not a rebuild.
Indexes are keyed by the database as well as the article: article ids repeat across
databases, and one process (a test run, a tool) may talk to several.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.catalogue.intent import preferred_tier
from ledger.models import Article, Claim, Source
from ledger.ranking import Document, Index

CLAIM_CHARS = 120
_cache: dict[tuple[str, int], tuple[tuple[int, int], Index, dict[int, str]]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Cited:
    tier: str
    sid: str | None
    text: str

    def line(self) -> str:
        text = self.text if len(self.text) <= CLAIM_CHARS else self.text[: CLAIM_CHARS - 3] + "..."
        where = f", {self.sid}" if self.sid else ""
        return f"- {self.tier}{where}: {text}"


def _database_key(session: Session) -> str:
    """Which database: its URL (password hidden), a schema in its options is part of it."""
    return session.get_bind().url.render_as_string(hide_password=True)


def article_index(session: Session, article: Article) -> tuple[Index, dict[int, str]]:
    """The article's index and its claim texts (the index also holds source titles)."""
    version = tuple(
        session.execute(
            select(func.count(Claim.id), func.coalesce(func.max(Claim.ledger_seq), 0)).where(
                Claim.article_id == article.id
            )
        ).one()
    )
    key = (_database_key(session), article.id)
    with _lock:
        cached = _cache.get(key)
        if cached and cached[0] == version:
            return cached[1], cached[2]
    rows = session.execute(
        select(Claim.id, Claim.text, Claim.tier, Source.sid, Source.title)
        .outerjoin(Source, Claim.source_id == Source.id)
        .where(Claim.article_id == article.id)
    ).all()
    index = Index.build(
        Document(key=row.id, text=f"{row.text} {row.title or ''}", tier=row.tier, sid=row.sid)
        for row in rows
    )
    texts = {row.id: row.text for row in rows}
    with _lock:
        _cache[key] = (version, index, texts)
    return index, texts


def relevant_claims(
    session: Session, article: Article, question: str, offset: int = 0, limit: int = 3
) -> list[Cited]:
    """The claims that answer ``question`` best, the tier it asks about first."""
    index, texts = article_index(session, article)
    prefer = preferred_tier(question)
    return [
        Cited(doc.tier, doc.sid, texts[doc.key])
        for doc, _score in index.search(question, limit, offset, prefer=prefer)
    ]
