"""Writing an article back in the published text format, from its ledger entries alone.

``ledgerbot export-article`` prints what :func:`export_ledger` returns: the newest ``article``
entry's title and sections in order, each source section with its ``source`` entries (their
header, summary and "Evidence type:" sentence). Reading the result with ``parse_article``
gives the same sections, sources and claims again, so importing an export into an empty
ledger writes the same payloads (tests check this on two articles and on random text).

What the published format has no place for stays in the ledger only: evidence readers added,
questions, moderation, and claims not derived from a source. Article entries written before
sections were stored export in the layout the page had then (``article_layout``); their
scientists-section sources get the published evidence-type sentence of their claim's tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ledger.article_format import ArticleRecord
from ledger.article_layout import placed_sections, sections_of
from ledger.article_sections import EVIDENCE_TYPES, SOURCE_SECTIONS
from ledger.article_sources import source_header
from ledger.article_text import write_generic, write_section
from ledger.stats import ArticleLedger

__all__ = ["export_ledger", "export_record"]


class _Source(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def platform(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def evidence_type(self) -> str | None: ...


def _source_lines(source: _Source, key: str, tier: str | None) -> list[str]:
    lines = [source_header(source.title, source.platform, source.sid)]
    if source.summary:
        lines.append(source.summary)
    evidence = source.evidence_type
    if evidence is None and key == "scientists" and tier is not None:
        evidence = EVIDENCE_TYPES[tier]  # an entry from before the sentence was stored
    if evidence:
        lines.append(f"Evidence type: {evidence}")
    return lines


def _section_lines(section: Mapping[str, Any]) -> list[str]:
    key, heading = section["key"], section.get("heading")
    if key == "topic":
        return [f"This topic: {section.get('text', '')}".rstrip(), *write_generic(section)]
    if key == "confidence":
        return write_section({**section, "heading": heading or "Quantified confidence"})
    return ([heading] if heading else []) + write_section(section)


def export_text(
    title: str,
    sections: Sequence[Mapping[str, Any]],
    sources: Sequence[_Source],
    tiers: Mapping[str, str],
) -> str:
    """The article's lines: the title, then every section in order, sources where placed."""
    lines = [title]
    for section, shown in placed_sections([dict(s) for s in sections], sources):
        if section["key"] in SOURCE_SECTIONS:
            lines.append(section.get("heading") or "What scientists say")
            for source in shown:
                lines += _source_lines(source, section["key"], tiers.get(source.sid))
        else:
            lines += _section_lines(section)
    return "\n".join(lines) + "\n"


def export_record(record: ArticleRecord) -> str:
    """A parsed article written back (the parser's round trip, without a database)."""
    article = {"title": record.title, "summary": record.summary, "limits": record.limits or ""}
    if record.sections is not None:
        article["sections"] = list(record.sections)
    tiers = {s.sid: s.tier for s in record.sources if s.tier}
    return export_text(record.title, sections_of(article), record.sources, tiers)


def export_ledger(ledger: ArticleLedger) -> str:
    """The article as its ledger entries hold it; ValueError when there is no article entry."""
    article = ledger.article
    if article is None or not isinstance(article.get("title"), str) or not article["title"]:
        raise ValueError(f"the ledger holds no article entry for {ledger.slug!r}")
    sections = sections_of(article)
    return export_text(article["title"], sections, ledger.sources, ledger.source_tiers())
