"""Parser for the plain-text evidence articles the public ledger publishes.

The articles are rendered for humans, not machines, so this parser reads them line by line
against the headings we know (``article_sections``). Every section is kept, in page order, as
JSON in ``ArticleRecord.sections`` (the text sections' shapes are in ``article_text``), so the
ledger alone can show the article as published and write it back (``article_export``).
Arbitrary text never crashes the parser: it returns whatever it recognised. The only hard
failure is an input with no title line, because without a title we cannot name the article
(the slug comes from the title).

Counts: the "Evidence inventory" numbers describe the *whole* ledger behind the published
article, while the page only shows a sample of the sources. The sources and claims parsed
from the page will therefore be fewer than the declared inventory (the seed article declares
102 sources and lists 55). Both are kept -- ``stated_counts`` (and the inventory section) as
printed, ``sources``/``claims`` as parsed -- so callers can show the gap instead of silently
trusting either (``article_counts``).

How sources are read (kinds, tiers, platforms) is in ``article_sources``.

Summary: the intro's "This topic:" line, because "What it is" opens with ledger-wide
boilerplate; the "What it is" text is the fallback. Limits: the lines under "Safety and
limits", one per line, bullets removed.

Claims: the page does not list claims with ids, so we derive one claim per source that has a
tier and a non-empty summary (text = summary, sid = source id). A source section lists the ids
it shows (``sources``), so the page keeps the published order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.article_sections import SOURCE_SECTIONS, TOPIC_PREFIX, declared_inventory, heading_of
from ledger.article_sources import SourceRecord, SourceSection, source_header
from ledger.article_text import compact, read_confidence, read_generic, read_section
from ledger.article_text import write_generic as _lines_of
from ledger.slugs import normalize_slug, slug_from_title

__all__ = ["ArticleRecord", "ClaimRecord", "SourceRecord", "parse_article", "source_header"]


@dataclass(frozen=True)
class ClaimRecord:
    tier: str
    text: str
    sid: str | None


@dataclass(frozen=True)
class ArticleRecord:
    slug: str
    title: str
    summary: str
    sources: tuple[SourceRecord, ...]
    claims: tuple[ClaimRecord, ...]
    stated_counts: dict[str, int] = field(hash=False)
    limits: str | None
    # Every section in page order, as JSON (see ledger.article_text); None when not parsed
    # from the published format (the article entry then holds title, summary and limits only).
    sections: tuple[dict[str, Any], ...] | None = field(default=None, hash=False)


def _raw_sections(lines: list[str]) -> list[tuple[str, str | None, str | None, list[str]]]:
    """(key, heading, rest of the heading line, lines under it); the intro comes first."""
    raw: list[tuple[str, str | None, str | None, list[str]]] = [("framing", None, None, [])]
    for line in lines:
        found = heading_of(line)
        if found is None:
            raw[-1][3].append(line)
        else:
            raw.append((*found, []))
    return raw


def _framing(heading: str | None, lines: list[str], want_topic: bool) -> list[dict[str, Any]]:
    """The framing section, and the "This topic:" line (with what follows it) as its own."""
    at = next(
        (i for i, line in enumerate(lines) if want_topic and line.lower().startswith(TOPIC_PREFIX)),
        None,
    )
    before = lines if at is None else lines[:at]
    sections = []
    if heading is not None or before:
        sections.append({"key": "framing", **compact(heading=heading), **read_generic(before)})
    if at is not None:
        topic = lines[at].split(":", 1)[1].strip()
        sections.append({"key": "topic", **compact(text=topic), **read_generic(lines[at + 1 :])})
    return sections


def _read(lines: list[str]) -> tuple[list[dict[str, Any]], list[SourceRecord]]:
    sections: list[dict[str, Any]] = []
    sources: list[SourceRecord] = []
    seen: set[str] = set()
    for key, heading, rest, body in _raw_sections(lines):
        if key == "framing":
            want_topic = not any(s["key"] == "topic" for s in sections)
            sections += _framing(heading, body, want_topic)
        elif key == "confidence":
            sections.append({"key": key, "heading": heading, **read_confidence(rest or "", body)})
        elif key in SOURCE_SECTIONS:
            reader = SourceSection(key, heading or "", seen)
            for line in body:
                reader.feed(line)
            reader.flush()
            sources += reader.sources
            sids = [s.sid for s in reader.sources]
            sections.append({"key": key, "heading": heading, **compact(sources=sids)})
        else:
            sections.append({"key": key, **compact(heading=heading), **read_section(key, body)})
    return sections, sources


def _summary(sections: list[dict[str, Any]]) -> str:
    topic = next((s for s in sections if s["key"] == "topic"), None)
    if topic is not None and topic.get("text"):
        return topic["text"]
    return " ".join(line for s in sections if s["key"] == "what" for line in _lines_of(s))


def _limits(sections: list[dict[str, Any]]) -> str | None:
    lines = [
        line[2:] if line.startswith("- ") else line
        for section in sections
        if section["key"] == "limits"
        for line in _lines_of(section)
    ]
    return "\n".join(lines) or None


def parse_article(text: str, slug: str | None = None) -> ArticleRecord:
    """Parse one article; see the module docstring for every inference rule."""
    lines = [line.strip() for line in text.splitlines()]
    title = next((line for line in lines if line), "")
    if not title:
        raise ValueError("article has no title: expected a non-empty first line")
    body = [line for line in lines[lines.index(title) + 1 :] if line]
    sections, sources = _read(body)
    claims = tuple(
        ClaimRecord(tier=s.tier, text=s.summary, sid=s.sid) for s in sources if s.tier and s.summary
    )
    return ArticleRecord(
        slug=normalize_slug(slug) if slug else slug_from_title(title),
        title=title,
        summary=_summary(sections),
        sources=tuple(sources),
        claims=claims,
        stated_counts=declared_inventory(sections),
        limits=_limits(sections),
        sections=tuple(sections),
    )
