"""What an article's ledger entries add up to: sources, claims, questions and a confidence score.

Everything is folded from the public ``ledger_entries`` rows of the article's slug, never from
the projection tables or hand-kept counters, so anyone holding a copy of the ledger can
recompute every number shown on the site. The one exception is ``pending``: evidence waiting
for a moderator is private working state that is not in the ledger yet.

Folding rules (kept here so pages, API and tests agree):

- ``source`` entries are the sources; a repeated ``sid`` counts once (the first entry wins),
  matching the importer's idempotency.
- Source groups follow the article format's inventory: *scientific* is pubmed, trial, review
  and journal; *reddit*; *x*; *other* is everything else — YouTube, Instagram, ``other``, and
  ``web``. Web pages (consumer and vendor pages the parser tells apart from journal titles)
  are neither peer-reviewed research nor first-hand reports, so they do not earn the
  scientific bonus in the score; they are still listed under "What scientists say" on the
  article page because that is where the article puts them.
- ``claim`` entries and approved ``evidence`` entries are claims of their ``tier``; entries
  without one of the three tiers are not counted. Every ``evidence`` entry is approved (only
  approved evidence is written to the ledger); one that says otherwise in a ``status`` key
  is ignored.
- ``question`` entries are question nodes; a node is answered once an evidence entry names
  its ``node_id``.
- ``article`` entries carry the article's text (title, summary, limits, ``sections``); the
  newest one is the article. They add to no count (``ledger.article_counts`` compares).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.confidence import WEIGHTS, Confidence, confidence_label
from ledger.models import TIERS, Article, Evidence, LedgerEntry

SCIENTIFIC_KINDS = ("pubmed", "trial", "review", "journal")
SCIENTISTS_SECTION_KINDS = (*SCIENTIFIC_KINDS, "web")
SOURCE_GROUPS = ("scientific", "reddit", "x", "other")
SOURCE_GROUP_LABELS = {
    "scientific": "Scientific sources (PubMed, trials, reviews, journals)",
    "reddit": "Reddit posts",
    "x": "X posts",
    "other": "Other sources (YouTube, Instagram, web pages, other)",
}
FOLDED_KINDS = ("article", "source", "claim", "question", "evidence")


def source_group(kind: str) -> str:
    if kind in SCIENTIFIC_KINDS:
        return "scientific"
    return kind if kind in ("reddit", "x") else "other"


@dataclass(frozen=True)
class SourceItem:
    seq: int
    sid: str
    kind: str
    title: str
    platform: str | None
    summary: str
    evidence_type: str | None = None  # the published "Evidence type:" sentence, when stored

    @property
    def group(self) -> str:
        return source_group(self.kind)


@dataclass(frozen=True)
class ClaimItem:
    seq: int
    kind: str  # "claim" (imported) or "evidence" (approved contribution)
    tier: str
    text: str
    sid: str | None
    node_id: int | None
    # What an approved paste cited (pmids, dois, nct_ids, urls), for the page's links.
    identifiers: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "tier": self.tier,
            "text": self.text,
            "sid": self.sid,
            "node_id": self.node_id,
        }


@dataclass(frozen=True)
class QuestionItem:
    seq: int
    node_id: int
    question: str
    asker: str
    answered_by: tuple[int, ...] = ()

    @property
    def status(self) -> str:
        return "answered" if self.answered_by else "open"

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "node_id": self.node_id,
            "question": self.question,
            "asker": self.asker,
            "status": self.status,
            "answered_by": list(self.answered_by),
        }


@dataclass(frozen=True)
class ArticleStats:
    sources: dict[str, int]
    sources_by_kind: dict[str, int]
    claims: dict[str, int]
    open_questions: int
    answered_questions: int
    pending: int
    confidence: Confidence

    @property
    def total_sources(self) -> int:
        return sum(self.sources.values())

    @property
    def total_claims(self) -> int:
        return sum(self.claims.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": dict(self.sources),
            "sources_by_kind": dict(self.sources_by_kind),
            "total_sources": self.total_sources,
            "claims": dict(self.claims),
            "total_claims": self.total_claims,
            "questions": {"open": self.open_questions, "answered": self.answered_questions},
            "pending": self.pending,
            "confidence": self.confidence.as_dict(),
        }


@dataclass
class ArticleLedger:
    """One article as its ledger entries tell it, in seq order."""

    slug: str
    article: dict[str, Any] | None = None  # the newest ``article`` entry's payload
    article_seq: int | None = None
    sources: list[SourceItem] = field(default_factory=list)
    claims: list[ClaimItem] = field(default_factory=list)
    questions: list[QuestionItem] = field(default_factory=list)

    def source_tiers(self) -> dict[str, str]:
        """The tier of each source's first imported claim: the page shows it next to the source."""
        tiers: dict[str, str] = {}
        for claim in self.claims:
            if claim.sid is not None:
                tiers.setdefault(claim.sid, claim.tier)
        return tiers

    def stats(self, pending: int = 0) -> ArticleStats:
        by_kind = Counter(source.kind for source in self.sources)
        groups = Counter(source.group for source in self.sources)
        claims = Counter(claim.tier for claim in self.claims)
        sources = {group: groups.get(group, 0) for group in SOURCE_GROUPS}
        tiers = {tier: claims.get(tier, 0) for tier in TIERS}
        answered = sum(1 for q in self.questions if q.answered_by)
        return ArticleStats(
            sources=sources,
            sources_by_kind=dict(sorted(by_kind.items())),
            claims=tiers,
            open_questions=len(self.questions) - answered,
            answered_questions=answered,
            pending=pending,
            confidence=Confidence(
                WEIGHTS.score(tiers, sources["scientific"]), confidence_label(tiers)
            ),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _source(seq: int, sid: str, payload: Mapping[str, Any]) -> SourceItem:
    return SourceItem(
        seq=seq,
        sid=sid,
        kind=_text(payload.get("kind")) or "other",
        title=_text(payload.get("title")),
        platform=payload.get("platform") if payload.get("platform") else None,
        summary=_text(payload.get("summary")),
        evidence_type=_text(payload.get("evidence_type")) or None,
    )


def fold(slug: str, rows: Iterable[Any]) -> ArticleLedger:
    """Rows must come in seq order: an answer can only name a question asked before it, and
    the first entry for a source id is the one that counts."""
    ledger = ArticleLedger(slug)
    seen_sids: set[str] = set()
    answers: dict[int, list[int]] = {}
    questions: list[tuple[int, Mapping[str, Any]]] = []
    for row in rows:
        payload = json.loads(row.payload) if isinstance(row.payload, str) else row.payload
        if not isinstance(payload, dict):
            continue
        if row.kind == "article":
            ledger.article, ledger.article_seq = payload, row.seq
        elif row.kind == "source":
            sid = _text(payload.get("sid"))
            if sid and sid not in seen_sids:
                seen_sids.add(sid)
                ledger.sources.append(_source(row.seq, sid, payload))
        elif row.kind == "question" and _int(payload.get("node_id")) is not None:
            questions.append((row.seq, payload))
        elif row.kind in ("claim", "evidence"):
            if row.kind == "evidence" and payload.get("status", "approved") != "approved":
                continue
            node_id = _int(payload.get("node_id"))
            if row.kind == "evidence" and node_id is not None:
                answers.setdefault(node_id, []).append(row.seq)
            tier = payload.get("tier")
            if tier in TIERS:
                text = payload.get("text") or payload.get("summary") or payload.get("paste")
                sid = _text(payload.get("sid")) or None
                cited = payload.get("identifiers")
                ledger.claims.append(
                    ClaimItem(
                        row.seq,
                        row.kind,
                        tier,
                        _text(text),
                        sid=sid,
                        node_id=node_id,
                        identifiers=cited if isinstance(cited, dict) else {},
                    )
                )
    for seq, payload in questions:
        node_id = payload["node_id"]
        ledger.questions.append(
            QuestionItem(
                seq=seq,
                node_id=node_id,
                question=_text(payload.get("question")),
                asker=_text(payload.get("asker")),
                answered_by=tuple(answers.get(node_id, ())),
            )
        )
    return ledger


def load_ledgers(session: Session, slugs: Iterable[str]) -> dict[str, ArticleLedger]:
    """One query for any number of articles, so list pages cost the same as one article."""
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return {}
    rows = session.execute(
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.slug, LedgerEntry.payload)
        .where(LedgerEntry.slug.in_(wanted), LedgerEntry.kind.in_(FOLDED_KINDS))
        .order_by(LedgerEntry.seq)
    ).all()
    by_slug: dict[str, list[Any]] = {slug: [] for slug in wanted}
    for row in rows:
        by_slug[row.slug].append(row)
    return {slug: fold(slug, by_slug[slug]) for slug in wanted}


def pending_counts(session: Session, slugs: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return {}
    rows = session.execute(
        select(Article.slug, func.count(Evidence.id))
        .join(Evidence, Evidence.article_id == Article.id)
        .where(Article.slug.in_(wanted), Evidence.status == "pending")
        .group_by(Article.slug)
    ).all()
    counts = dict.fromkeys(wanted, 0)
    counts.update({slug: n for slug, n in rows})
    return counts


def stats_for(session: Session, slugs: Iterable[str]) -> dict[str, ArticleStats]:
    """Statistics for many articles in two queries, whatever their number."""
    wanted = list(dict.fromkeys(slugs))
    ledgers = load_ledgers(session, wanted)
    pending = pending_counts(session, wanted)
    return {slug: ledgers[slug].stats(pending[slug]) for slug in wanted}


def article_stats(session: Session, slug: str) -> ArticleStats:
    return stats_for(session, [slug])[slug]
