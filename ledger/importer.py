"""Loading an article file into the ledger, as ledger entries plus their projections.

Every source and claim goes into the chain (kinds ``article``, ``source``, ``claim``), so the
public ledger alone is enough to rebuild the article. Importing is idempotent: what is
already there — by slug, by source id, by (source, tier, text) — is skipped, so re-running
an import after a failure or on the same file adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.article_format import ArticleRecord
from ledger.chain import append, append_many
from ledger.models import Article, Claim, Source


@dataclass
class ImportReport:
    slug: str
    article_created: bool = False
    sources_added: int = 0
    claims_added: int = 0

    @property
    def entries_added(self) -> int:
        return int(self.article_created) + self.sources_added + self.claims_added


def import_article(session: Session, record: ArticleRecord) -> ImportReport:
    """Add what the ledger does not hold yet of ``record``; importing twice adds nothing."""
    report = ImportReport(record.slug)
    article, report.article_created = _ensure_article(session, record)
    sources = _import_sources(session, article, record)
    report.sources_added = len(sources.added)
    report.claims_added = _import_claims(session, article, record, sources.by_sid)
    return report


def _ensure_article(session: Session, record: ArticleRecord) -> tuple[Article, bool]:
    article = session.scalar(select(Article).where(Article.slug == record.slug))
    if article is not None:
        return article, False
    article = Article(
        slug=record.slug, title=record.title, summary=record.summary, limits=record.limits or ""
    )
    session.add(article)
    session.flush()
    append(
        session,
        "article",
        record.slug,
        {"title": record.title, "summary": record.summary, "limits": record.limits or ""},
    )
    return article, True


@dataclass
class _Sources:
    by_sid: dict[str, Source]
    added: list[Source]


def _import_sources(session: Session, article: Article, record: ArticleRecord) -> _Sources:
    """New sources in one batched append; every source of the article, by id."""
    sources = {
        s.sid: s for s in session.scalars(select(Source).where(Source.article_id == article.id))
    }
    new_sources = []
    for item in record.sources:
        if item.sid in sources:
            continue
        sources[item.sid] = source = Source(
            article_id=article.id,
            sid=item.sid,
            kind=item.kind,
            title=item.title,
            platform=item.platform,
            summary=item.summary,
        )
        new_sources.append(source)
    payloads = [
        (
            "source",
            record.slug,
            {
                "sid": s.sid,
                "kind": s.kind,
                "title": s.title,
                "platform": s.platform,
                "summary": s.summary,
            },
        )
        for s in new_sources
    ]
    for source, entry in zip(new_sources, append_many(session, payloads), strict=True):
        source.ledger_seq = entry.seq
    session.add_all(new_sources)
    session.flush()
    return _Sources(sources, new_sources)


def _import_claims(
    session: Session, article: Article, record: ArticleRecord, sources: dict[str, Source]
) -> int:
    existing = {
        (c.source_id, c.tier, c.text)
        for c in session.scalars(select(Claim).where(Claim.article_id == article.id))
    }
    new_claims = []
    for claim in record.claims:
        source = sources.get(claim.sid) if claim.sid else None
        key = (source.id if source else None, claim.tier, claim.text)
        if key in existing:
            continue
        existing.add(key)
        new_claims.append((claim, key[0]))
    entries = append_many(
        session,
        [
            ("claim", record.slug, {"sid": c.sid, "tier": c.tier, "text": c.text})
            for c, _ in new_claims
        ],
    )
    session.add_all(
        Claim(
            article_id=article.id,
            source_id=source_id,
            tier=claim.tier,
            text=claim.text,
            ledger_seq=entry.seq,
        )
        for (claim, source_id), entry in zip(new_claims, entries, strict=True)
    )
    session.flush()
    return len(new_claims)
