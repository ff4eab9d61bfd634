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
from sys import intern
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


@dataclass(frozen=True, slots=True)  # no __dict__: a fold keeps 100,000s
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


@dataclass(frozen=True, slots=True)  # no __dict__: a fold keeps 100,000s
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
            key: getattr(self, key) for key in ("seq", "kind", "tier", "text", "sid", "node_id")
        }


@dataclass(frozen=True, slots=True)  # no __dict__: a fold keeps 100,000s
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
        body = {key: getattr(self, key) for key in ("seq", "node_id", "question", "asker")}
        return body | {"status": self.status, "answered_by": list(self.answered_by)}


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
    # What a Fold tallied as it went (claims per tier; each source id's first claim's tier),
    # so a large article's stats take no pass over its claims. None: count them here.
    tallies: tuple[Counter, dict[str, str]] | None = field(default=None, compare=False)

    def source_tiers(self) -> dict[str, str]:
        """The tier of each source's first imported claim: the page shows it next to the source."""
        if self.tallies is not None:
            return dict(self.tallies[1])
        tiers: dict[str, str] = {}
        for claim in self.claims:
            if claim.sid is not None:
                tiers.setdefault(claim.sid, claim.tier)
        return tiers

    def stats(self, pending: int = 0) -> ArticleStats:
        by_kind = Counter(source.kind for source in self.sources)
        groups = Counter(source.group for source in self.sources)
        claims = self.tallies[0] if self.tallies else Counter(c.tier for c in self.claims)
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


def _source(seq: int, sid: str, p: Mapping[str, Any]) -> SourceItem:
    kind, evidence_type = _text(p.get("kind")) or "other", _text(p.get("evidence_type")) or None
    title, summary = _text(p.get("title")), _text(p.get("summary"))
    return SourceItem(seq, sid, kind, title, p.get("platform") or None, summary, evidence_type)


class Fold:
    """An article's entries folded so far, to which later entries can be added.

    The ledger only grows, so a reader that keeps a Fold (the web pages do, per article) adds
    the entries appended since instead of folding every entry again; :meth:`ledger` gives what
    :func:`fold` of all the rows would. Rows must come in seq order: the first entry for a
    source id is the one that counts.
    """

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self._ledger = ArticleLedger(slug)
        self._sids: set[str] = set()
        self._answers: dict[int, list[int]] = {}  # node id -> seqs of the evidence naming it
        self._asked: list[tuple[int, int, str, str]] = []  # (seq, node id, question, asker)
        self._questions: list[QuestionItem] | None = []  # built from the two above, or None
        self._tiers: Counter = Counter()  # claims per tier
        self._first: dict[str, str] = {}  # source id -> the tier of its first claim

    def __len__(self) -> int:
        """Items held (sources, claims, questions): what a cache of folds bounds."""
        return len(self._ledger.sources) + len(self._ledger.claims) + len(self._asked)

    def add(self, rows: Iterable[Any]) -> Fold:
        for row in rows:
            payload = json.loads(row.payload) if isinstance(row.payload, str) else row.payload
            if isinstance(payload, dict):
                self._add(row.seq, row.kind, payload)
        return self

    def _add(self, seq: int, kind: str, payload: dict[str, Any]) -> None:
        ledger = self._ledger
        if kind == "article":
            ledger.article, ledger.article_seq = payload, seq
        elif kind == "source":
            sid = _text(payload.get("sid"))
            if sid and sid not in self._sids:
                self._sids.add(sid)
                ledger.sources.append(_source(seq, sid, payload))
        elif kind == "question" and (node_id := _int(payload.get("node_id"))) is not None:
            self._asked.append(
                (seq, node_id, _text(payload.get("question")), _text(payload.get("asker")))
            )
            self._questions = None
        elif kind in ("claim", "evidence"):
            if kind == "evidence" and payload.get("status", "approved") != "approved":
                return
            node_id = _int(payload.get("node_id"))
            if kind == "evidence" and node_id is not None:
                self._answers.setdefault(node_id, []).append(seq)
                self._questions = None
            if payload.get("tier") in TIERS:
                claim = _claim(seq, kind, node_id, payload)
                ledger.claims.append(claim)
                self._tiers[claim.tier] += 1
                if claim.sid is not None:
                    self._first.setdefault(claim.sid, claim.tier)

    def ledger(self) -> ArticleLedger:
        """What the entries so far add up to; entries added later do not change it."""
        if self._questions is None:
            answers = self._answers
            self._questions = [
                QuestionItem(seq, node_id, question, asker, tuple(answers.get(node_id, ())))
                for seq, node_id, question, asker in self._asked
            ]
        done, tallies = self._ledger, (Counter(self._tiers), dict(self._first))
        items = list(done.sources), list(done.claims), list(self._questions)
        return ArticleLedger(self.slug, done.article, done.article_seq, *items, tallies)


def _claim(seq: int, kind: str, node_id: int | None, payload: Mapping[str, Any]) -> ClaimItem:
    text = _text(payload.get("text") or payload.get("summary") or payload.get("paste"))
    cited = payload.get("identifiers")
    cited = cited if isinstance(cited, dict) else {}
    # Interned: every payload decodes its own copy of the same few tiers, kinds and source ids.
    sid = _text(payload.get("sid")) or None
    return ClaimItem(
        seq, intern(kind), intern(payload["tier"]), text, sid and intern(sid), node_id, cited
    )


def fold(slug: str, rows: Iterable[Any]) -> ArticleLedger:
    """Rows must come in seq order: an answer can only name a question asked before it, and
    the first entry for a source id is the one that counts."""
    return Fold(slug).add(rows).ledger()


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
