"""Has this citation been catalogued before? The same PMID, DOI, trial id or URL, already in
an approved piece of evidence on the same article.

Moderators see it on the queue (approving a duplicate adds nothing a reader can use) and the
contributor hears it when their paste is queued. Identifiers compare in a canonical form: DOIs
and URLs' scheme and host are case-insensitive, trial ids upper case, a URL's trailing slash
and fragment ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import Evidence

LABELS = {"pmids": "PMID", "dois": "DOI", "nct_ids": "trial", "urls": "URL"}


@dataclass(frozen=True)
class Duplicate:
    label: str  # PMID, DOI, trial, URL
    value: str  # as the new paste has it
    evidence_id: int  # the approved evidence that holds it
    seq: int | None  # that evidence's ledger entry


def canonical(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "dois":
        return value.lower()
    if kind == "nct_ids":
        return value.upper()
    if kind == "urls":
        parts = urlsplit(value)
        path = parts.path.rstrip("/")
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))
    return value


def _keys(identifiers: Any) -> dict[tuple[str, str], str]:
    if not isinstance(identifiers, dict):
        return {}
    keys = {}
    for kind in LABELS:
        for value in identifiers.get(kind) or ():
            if isinstance(value, str) and value.strip():
                keys.setdefault((kind, canonical(kind, value)), value)
    return keys


class Catalogue:
    """Every identifier approved evidence already cites, per article: read in one query, so a
    queue page of many items costs one read, not one per item."""

    def __init__(self, rows) -> None:
        self._held: dict[int, list[tuple[int, int | None, dict]]] = {}
        for article_id, evidence_id, cited, seq in rows:
            self._held.setdefault(article_id, []).append((evidence_id, seq, _keys(cited)))

    def find(self, article_id: int, identifiers: Any, exclude: int | None = None):
        """What ``identifiers`` share with the article's approved evidence, oldest holder
        first, one Duplicate per identifier."""
        wanted = _keys(identifiers)
        found: dict[tuple[str, str], Duplicate] = {}
        for evidence_id, seq, held in self._held.get(article_id, ()) if wanted else ():
            if evidence_id == exclude:
                continue
            for key, value in wanted.items():  # in the order LABELS lists the kinds
                if key in held:
                    found.setdefault(key, Duplicate(LABELS[key[0]], value, evidence_id, seq))
        return list(found.values())


def catalogue(session: Session, article_ids) -> Catalogue:
    rows = session.execute(
        select(Evidence.article_id, Evidence.id, Evidence.identifiers, Evidence.ledger_seq)
        .where(Evidence.article_id.in_(sorted(set(article_ids))), Evidence.status == "approved")
        .order_by(Evidence.id)
    ).all()
    return Catalogue(rows)


def already_catalogued(
    session: Session, article_id: int, identifiers: Any, exclude: int | None = None
) -> list[Duplicate]:
    """One item's duplicates (an ingest, a receipt): see ``Catalogue.find``."""
    if not _keys(identifiers):
        return []
    return catalogue(session, [article_id]).find(article_id, identifiers, exclude)


def describe(duplicates: list[Duplicate], limit: int = 2) -> str:
    """`PMID 31234567 (entry #15), DOI 10.1/x (entry #20)` for a reply or a queue row."""
    shown = [
        f"{d.label} {d.value} (entry #{d.seq})"
        if d.seq
        else f"{d.label} {d.value} (E{d.evidence_id})"
        for d in duplicates[:limit]
    ]
    more = len(duplicates) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
