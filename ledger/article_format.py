"""Parser for the plain-text evidence articles the public ledger publishes.

The articles are rendered for humans, not machines, so this parser reads them
line by line against the headings we know and skips anything else. That keeps
it usable when the renderer adds a section, and it means arbitrary text never
crashes the parser: it returns whatever it recognised. The only hard failure is
an input with no title line, because without a title we cannot name the
article (the slug comes from the title).

Counts: the "Evidence inventory" numbers describe the *whole* ledger behind the
article, while the page only shows a sample of the sources. The sources and
claims parsed from the page will therefore be fewer than the stated inventory
(the seed article states 102 sources and shows 55). Both are kept on
``ArticleRecord`` -- ``stated_counts`` as printed, ``sources``/``claims`` as
parsed -- so callers can show the gap instead of silently trusting either.

Kind of a source in the "What scientists say" section. The page does not say
what kind of publication a source is, so we use a transparent rule on the title
only (summaries are paraphrases and often say "review" loosely):

1. "review" (any case) in the title -> ``review``;
2. the title looks like a commercial/consumer web page -- it contains " | "
   (a "Page | Site" suffix), a bracketed year such as "[2026]", or the words
   "guide" or "buying" -> ``web``;
3. otherwise -> ``journal``.

PubMed/trial kinds are never guessed here because the article text carries no
PMIDs or NCT ids.

Tier of a scientists-section source comes from its "Evidence type:" line:
"Animal or lab work" -> preclinical, "Tagged human evidence" -> human,
"Published research" (or no line) -> ``None``. Every source in a "What people
say on ..." or "Other anecdote evidence" section is anecdotal; its kind comes
from the platform after " — " in the header (Reddit, X/Twitter, YouTube,
Instagram), then from the section's platform, then from the platform named in
the title (the seed's Instagram reel is listed as "online"), else ``other``.

Summary: the intro's "This topic:" line, because "What it is" opens with
ledger-wide boilerplate; the "What it is" paragraph is the fallback. Limits: the
bullets under "Safety and limits", one per line.

Claims: the page does not list claims with ids, so we derive one claim per
source that has a tier and a non-empty summary (text = summary, sid = source
id). Each source's summary is its first line after the header; further
unrecognised lines end the source (they are most likely an unknown heading).
Repeated source ids keep their first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ledger.slugs import normalize_slug, slug_from_title

__all__ = ["ArticleRecord", "ClaimRecord", "SourceRecord", "parse_article"]


@dataclass(frozen=True)
class SourceRecord:
    sid: str
    title: str
    kind: str
    platform: str | None
    summary: str
    section: str
    tier: str | None


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


# Every pattern here is a literal followed by single, non-nested character
# classes, so matching stays linear even on hostile input.
_SOURCE_HEADER = re.compile(r"\(source (s[0-9]+)\)\s*$")
_PEOPLE_HEADING = re.compile(r"what people say on (.+)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

_SECTION_HEADINGS = {
    "regeneration vs degeneration — where this fits": "intro",
    "what it is": "what",
    "how it works": "how",
    "why it would work (logic chain)": "logic",
    "why people take it": "why_take",
    "how many people take it": "how_many",
    "evidence inventory": "inventory",
    "what scientists say": "scientists",
    "other anecdote evidence": "people",
    "what we do not know": "unknowns",
    "safety and limits": "limits",
    "---": "footer",
}

# Inventory labels as printed, matched by prefix after lowercasing.
_INVENTORY_KEYS = (
    ("scientific sources", "scientific_sources"),
    ("claims tagged human", "human_claims"),
    ("claims tagged preclinical", "preclinical_claims"),
    ("claims tagged anecdotal", "anecdotal_claims"),
    ("reddit posts", "reddit"),
    ("x posts", "x"),
    ("other anecdote", "other_anecdote"),
    ("total sources", "total_sources"),
)

_PLATFORM_KINDS = (
    ("reddit", "reddit"),
    ("twitter", "x"),
    ("youtube", "youtube"),
    ("instagram", "instagram"),
)

_WEB_TITLE_MARKERS = (" | ", "[19", "[20", "guide", "buying")


def _slugify(value: str, sep: str = "-") -> str:
    return _NON_ALNUM.sub(sep, value.lower()).strip(sep)


def _platform_kind(platform: str | None) -> str | None:
    if not platform:
        return None
    lowered = platform.strip().lower()
    if lowered == "x" or lowered.startswith(("x,", "x ")):
        return "x"
    for needle, kind in _PLATFORM_KINDS:
        if needle in lowered:
            return kind
    return None


def _title_platform_kind(title: str) -> str | None:
    lowered = title.lower()
    for needle, kind in _PLATFORM_KINDS:
        if needle in lowered:
            return kind
    return None


def _scientist_kind(title: str) -> str:
    lowered = title.lower()
    if "review" in lowered:
        return "review"
    if any(marker in lowered for marker in _WEB_TITLE_MARKERS):
        return "web"
    return "journal"


def _evidence_tier(line: str) -> str | None:
    lowered = line.lower()
    if "animal" in lowered or "lab work" in lowered:
        return "preclinical"
    if "human" in lowered:
        return "human"
    if "anecdot" in lowered:
        return "anecdotal"
    return None


def _inventory_entry(line: str) -> tuple[str, int] | None:
    label, sep, value = line.lstrip("-•* ").rpartition(":")
    value = value.strip()
    if not sep or not _DIGITS.fullmatch(value):
        return None
    lowered = label.strip().lower()
    for prefix, key in _INVENTORY_KEYS:
        if lowered.startswith(prefix):
            return key, int(value)
    key = _slugify(label, "_")
    return (key, int(value)) if key else None


@dataclass
class _Pending:
    sid: str
    title: str
    platform: str | None
    section: str
    section_platform: str | None
    summary: str | None = None
    tier: str | None = None
    saw_evidence: bool = False

    def finish(self) -> SourceRecord:
        if self.section == "scientists":
            kind = _scientist_kind(self.title)
            tier = self.tier
        else:
            kind = (
                _platform_kind(self.platform)
                or _platform_kind(self.section_platform)
                or _title_platform_kind(self.title)
                or "other"
            )
            tier = "anecdotal"
        return SourceRecord(
            sid=self.sid,
            title=self.title,
            kind=kind,
            platform=self.platform,
            summary=self.summary or "",
            section=self.section,
            tier=tier,
        )


def _split_header(header: str, section: str) -> tuple[str, str | None]:
    if section == "people":
        title, sep, platform = header.rpartition(" — ")
        if sep and title.strip() and platform.strip():
            return title.strip(), platform.strip()
    return header.strip(), None


class _Parser:
    """One pass over the lines: the section a line is in decides what it means."""

    def __init__(self) -> None:
        self.section = "intro"
        self.section_platform: str | None = None
        self.topic: str | None = None
        self.what_it_is: list[str] = []
        self.limits: list[str] = []
        self.stated: dict[str, int] = {}
        self.sources: list[SourceRecord] = []
        self.seen: set[str] = set()
        self.pending: _Pending | None = None

    def flush(self) -> None:
        if self.pending is not None and self.pending.sid not in self.seen:
            self.seen.add(self.pending.sid)
            self.sources.append(self.pending.finish())
        self.pending = None

    def feed(self, line: str) -> None:
        lowered = line.lower()
        heading = _SECTION_HEADINGS.get(lowered)
        people = _PEOPLE_HEADING.fullmatch(line) if heading is None else None
        if heading is not None or people is not None:
            self.flush()
            self.section = heading or "people"
            self.section_platform = people.group(1).strip() if people else None
        elif self.section == "footer":
            return
        elif self.section in ("scientists", "people"):
            self.source_line(line, lowered)
        elif self.section == "intro" and self.topic is None and lowered.startswith("this topic:"):
            self.topic = line.split(":", 1)[1].strip()
        elif self.section == "what":
            self.what_it_is.append(line)
        elif self.section == "inventory":
            entry = _inventory_entry(line)
            if entry is not None and entry[0] not in self.stated:
                self.stated[entry[0]] = entry[1]
        elif self.section == "limits":
            self.limits.append(line.lstrip("-•* ").strip())

    def source_line(self, line: str, lowered: str) -> None:
        """A source header opens a source; its summary and evidence-type lines follow it."""
        match = _SOURCE_HEADER.search(line)
        pending = self.pending
        if match:
            self.flush()
            header_title, platform = _split_header(line[: match.start()], self.section)
            self.pending = _Pending(
                sid=match.group(1),
                title=header_title,
                platform=platform,
                section=self.section,
                section_platform=self.section_platform,
            )
        elif pending is None:
            return
        elif lowered.startswith("evidence type:") and not pending.saw_evidence:
            pending.saw_evidence = True
            pending.tier = _evidence_tier(line.split(":", 1)[1])
        elif pending.summary is None and not pending.saw_evidence:
            pending.summary = line
        else:
            self.flush()


def parse_article(text: str, slug: str | None = None) -> ArticleRecord:
    """Parse one article; see the module docstring for every inference rule."""
    lines = [line.strip() for line in text.splitlines()]
    title = next((line for line in lines if line), "")
    if not title:
        raise ValueError("article has no title: expected a non-empty first line")
    parser = _Parser()
    for line in lines[lines.index(title) + 1 :]:
        if line:
            parser.feed(line)
    parser.flush()
    sources = parser.sources
    claims = tuple(
        ClaimRecord(tier=s.tier, text=s.summary, sid=s.sid) for s in sources if s.tier and s.summary
    )
    limits_text = "\n".join(item for item in parser.limits if item)
    return ArticleRecord(
        slug=normalize_slug(slug) if slug else slug_from_title(title),
        title=title,
        summary=parser.topic if parser.topic else " ".join(parser.what_it_is),
        sources=tuple(sources),
        claims=claims,
        stated_counts=parser.stated,
        limits=limits_text or None,
    )
