"""Loading an article file into the ledger, as ledger entries plus their projections.

Every section, source and claim goes into the chain (kinds ``article``, ``source``,
``claim``), so the public ledger alone is enough to rebuild the article: the ``article``
entry carries the title, summary, limits and every section in page order; each source is a
``source`` entry; each tiered source's claim a ``claim`` entry.

An import adds to an article, never changes it. Re-importing what is already there adds
nothing (the report says so). Sources with new ids are added. But a source id the ledger
already holds with *different* content (its title, kind, summary, evidence-type sentence or
claim), or an article whose title, summary, limits or sections differ from the ledger's, is
refused with :class:`ImportConflict` naming what differs, and nothing is written: entries are
permanent, so two different articles must not be merged under one slug. A field an older
entry lacks is not a difference; an article entry from before sections were stored is
completed by a new ``article`` entry holding them.

Phone-number-shaped text (the published footer prints the publisher's number) is removed
before anything is written, as for questions and pastes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.article_format import ArticleRecord, SourceRecord
from ledger.chain import append, append_many
from ledger.models import Article, Claim, LedgerEntry, Source
from ledger.redact import redact_numbers

Payload = dict[str, Any]


@dataclass
class ImportReport:
    slug: str
    article_created: bool = False
    article_completed: bool = False
    sources_added: int = 0
    claims_added: int = 0

    @property
    def entries_added(self) -> int:
        article = int(self.article_created) + int(self.article_completed)
        return article + self.sources_added + self.claims_added


class ImportConflict(ValueError):
    """The file says something else than the ledger under ids (or an article) it already has."""

    def __init__(self, slug: str, sids: list[str], article_fields: list[str]) -> None:
        self.slug, self.sids, self.article_fields = slug, sids, article_fields
        parts = []
        if sids:
            parts.append(f"source id(s) {', '.join(sids)} hold different content")
        if article_fields:
            parts.append(f"the article's {', '.join(article_fields)} differ")
        super().__init__(
            f"{slug}: not imported, nothing written. The ledger already has an article {slug!r}"
            f" and {'; '.join(parts)}. Ledger entries are permanent, so a different article"
            " needs its own slug: import it with --slug NAME."
        )


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_numbers(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def article_payload(record: ArticleRecord) -> Payload:
    payload: Payload = {"title": record.title, "summary": record.summary}
    payload["limits"] = record.limits or ""
    if record.sections is not None:
        payload["sections"] = list(record.sections)
    return _redacted(payload)


def source_payload(source: SourceRecord) -> Payload:
    payload: Payload = {"sid": source.sid, "kind": source.kind, "title": source.title}
    payload |= {"platform": source.platform, "summary": source.summary}
    if source.evidence_type:
        payload["evidence_type"] = source.evidence_type
    return _redacted(payload)


def _claim_key(claim: Mapping[str, Any]) -> tuple[Any, Any]:
    return claim.get("tier"), claim.get("text")


@dataclass
class _Held:
    """What the ledger already says under the slug: its newest article entry, each source
    id's first entry, and the claims imported for each source id."""

    article: Payload | None = None
    sources: dict[str, Payload] = field(default_factory=dict)
    claims: dict[str, set[tuple[Any, Any]]] = field(default_factory=dict)


def _held(session: Session, slug: str) -> _Held:
    held = _Held()
    rows = session.execute(
        select(LedgerEntry.kind, LedgerEntry.payload)
        .where(LedgerEntry.slug == slug, LedgerEntry.kind.in_(("article", "source", "claim")))
        .order_by(LedgerEntry.seq)
    )
    for kind, text in rows:
        payload = json.loads(text)
        if kind == "article":
            held.article = payload
        elif kind == "source":
            held.sources.setdefault(payload.get("sid"), payload)
        elif payload.get("sid"):
            held.claims.setdefault(payload["sid"], set()).add(_claim_key(payload))
    return held


def _differs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Fields both have and disagree on (a field the older entry lacks is not a difference)."""
    return [key for key in new if key in old and old[key] != new[key]]


def _check(record: ArticleRecord, payload: Payload, sources: list[Payload], held: _Held) -> None:
    claims: dict[str, set[tuple[Any, Any]]] = {}
    for claim in record.claims:
        if claim.sid:
            key = _claim_key(_redacted({"tier": claim.tier, "text": claim.text}))
            claims.setdefault(claim.sid, set()).add(key)
    clashing = [
        source["sid"]
        for source in sources
        if source["sid"] in held.sources
        and (
            _differs(held.sources[source["sid"]], source)
            or claims.get(source["sid"], set()) != held.claims.get(source["sid"], set())
        )
    ]
    fields = _differs(held.article, payload) if held.article is not None else []
    if clashing or fields:
        raise ImportConflict(record.slug, clashing, fields)


def import_article(session: Session, record: ArticleRecord) -> ImportReport:
    """Add what the ledger does not hold yet of ``record``; importing twice adds nothing.

    Raises :class:`ImportConflict` (before writing anything) when the record contradicts it.
    """
    payload = article_payload(record)
    sources = [source_payload(source) for source in record.sources]
    _refuse_a_second_copy(session, record.slug, payload["title"])
    held = _held(session, record.slug)
    _check(record, payload, sources, held)
    report = ImportReport(record.slug)
    article = session.scalar(select(Article).where(Article.slug == record.slug))
    if article is None:
        article = Article(slug=record.slug, title=payload["title"], summary=payload["summary"])
        article.limits = payload["limits"]
        session.add(article)
        session.flush()
        report.article_created = True
    if held.article is None or set(payload) - set(held.article):
        append(session, "article", record.slug, payload)
        report.article_completed = not report.article_created
    by_sid = _import_sources(session, article, sources)
    report.sources_added = len(by_sid.added)
    report.claims_added = _import_claims(session, article, record, by_sid.by_sid)
    return report


class AlreadyImported(ValueError):
    """The article is in the ledger under another slug (one an earlier release derived)."""


def _refuse_a_second_copy(session: Session, slug: str, title: str) -> None:
    """Slugs were once derived differently ("Sémax" gave ``s-max``, "Lion's Mane"
    ``lion-s-mane``); re-importing such an article must not start a second, permanent copy
    of it under today's slug. Say where it is instead."""
    if session.scalar(select(Article.id).where(Article.slug == slug)) is not None:
        return
    other = session.scalar(select(Article.slug).where(Article.title == title))
    if other is not None:
        raise AlreadyImported(
            f"{slug}: not imported, nothing written. The ledger already holds this article "
            f"as {other!r}; to add to it, import with --slug {other}."
        )


@dataclass
class _Sources:
    by_sid: dict[str, Source]
    added: list[Source]


def _import_sources(session: Session, article: Article, payloads: list[Payload]) -> _Sources:
    """New sources in one batched append; every source of the article, by id."""
    sources = {
        s.sid: s for s in session.scalars(select(Source).where(Source.article_id == article.id))
    }
    new: list[Payload] = []
    taken = set(sources)
    for payload in payloads:
        if payload["sid"] not in taken:
            taken.add(payload["sid"])
            new.append(payload)
    added = [
        Source(
            article_id=article.id,
            sid=p["sid"],
            kind=p["kind"],
            title=p["title"],
            platform=p["platform"],
            summary=p["summary"],
        )
        for p in new
    ]
    entries = append_many(session, [("source", article.slug, p) for p in new])
    for source, entry in zip(added, entries, strict=True):
        source.ledger_seq = entry.seq
        sources[source.sid] = source
    session.add_all(added)
    session.flush()
    return _Sources(sources, added)


def _import_claims(
    session: Session, article: Article, record: ArticleRecord, sources: dict[str, Source]
) -> int:
    existing = {
        (c.source_id, c.tier, c.text)
        for c in session.scalars(select(Claim).where(Claim.article_id == article.id))
    }
    new_claims = []
    for claim in record.claims:
        text = redact_numbers(claim.text)
        source = sources.get(claim.sid) if claim.sid else None
        key = (source.id if source else None, claim.tier, text)
        if key in existing:
            continue
        existing.add(key)
        new_claims.append(({"sid": claim.sid, "tier": claim.tier, "text": text}, key[0]))
    entries = append_many(session, [("claim", record.slug, c) for c, _ in new_claims])
    session.add_all(
        Claim(
            article_id=article.id,
            source_id=source_id,
            tier=claim["tier"],
            text=claim["text"],
            ledger_seq=entry.seq,
        )
        for (claim, source_id), entry in zip(new_claims, entries, strict=True)
    )
    session.flush()
    return len(new_claims)
