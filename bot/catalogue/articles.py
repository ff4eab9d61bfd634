"""Article lookup for the bot, the pages and the API: find by slug, suggest near misses, count."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.models import Article, Claim, Source

SLUG_MAX = 64


def find_article(session: Session, slug: str) -> Article | None:
    """The article with exactly this slug; None for anything that cannot be one.

    Web pages, the API and the bot all look articles up here. A slug too long for the column
    or holding NUL (which PostgreSQL refuses) is simply not found, never a database error.
    """
    if not slug or len(slug) > SLUG_MAX or "\x00" in slug:
        return None
    # Once per transaction: an inbound job handling a batch asks for the same article for
    # every question in it. Only found ones are kept (an article may be made later on).
    transaction = session.get_transaction()
    memo = session.info.get("articles_found")
    if memo is None or memo[0] is not transaction:
        memo = session.info["articles_found"] = (transaction, {})
    article = memo[1].get(slug)
    if article is None:
        article = session.scalar(select(Article).where(Article.slug == slug))
        if article is not None and transaction is not None:
            memo[1][slug] = article
    return article


def suggest_slugs(session: Session, slug: str, limit: int = 3) -> list[str]:
    choices = {a.slug: f"{a.slug} {a.title}" for a in session.scalars(select(Article))}
    if not choices:
        return []
    matches = process.extract(
        slug, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=60, processor=str.lower
    )
    return [key for _text, _score, key in matches]


def unknown_article_reply(session: Session, slug: str) -> str:
    suggestions = suggest_slugs(session, slug)
    if suggestions:
        names = " or ".join(suggestions)
        example = f"{suggestions[0]}|your question"
        return f'No article "{slug}" yet. Did you mean {names}? Send e.g. {example}'
    known = [a for (a,) in session.execute(select(Article.slug).order_by(Article.slug).limit(5))]
    if known:
        names = ", ".join(known)
        return f'No article "{slug}" yet. Articles: {names}. Send e.g. {known[0]}|your question'
    return f'No article "{slug}" yet, and the ledger has no articles so far.'


@dataclass(frozen=True)
class Counts:
    """What a reply says the ledger holds on an article: sources, claims by tier. (It used to
    count open questions and pending evidence as well, which no reply showed: the open
    questions query counted every question node of the article, 1 ms a reply at 100,000.)"""

    sources: int
    human: int
    preclinical: int
    anecdotal: int

    def line(self) -> str:
        return (
            f"{self.sources} sources; claims: {self.human} human, {self.preclinical} preclinical,"
            f" {self.anecdotal} anecdotal"
        )


def article_counts(session: Session, article: Article) -> Counts:
    tiers = dict(
        session.execute(
            select(Claim.tier, func.count())
            .where(Claim.article_id == article.id)
            .group_by(Claim.tier)
        ).all()
    )
    sources = session.scalar(select(func.count()).where(Source.article_id == article.id)) or 0
    return Counts(
        sources=sources,
        human=tiers.get("human", 0),
        preclinical=tiers.get("preclinical", 0),
        anecdotal=tiers.get("anecdotal", 0),
    )
