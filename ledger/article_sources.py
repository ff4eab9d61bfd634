"""The source sections of the published format: "What scientists say", "What people say on …"
and "Other anecdote evidence", read into ``SourceRecord``s.

Kind of a source in the "What scientists say" section. The page does not say what kind of
publication a source is, so we use a transparent rule on the title only (summaries are
paraphrases and often say "review" loosely):

1. "review" (any case) in the title -> ``review``;
2. the title looks like a commercial/consumer web page -- it contains " | " (a "Page | Site"
   suffix), a bracketed year such as "[2026]", or the words "guide" or "buying" -> ``web``;
3. otherwise -> ``journal``.

PubMed/trial kinds are never guessed here because the article text carries no PMIDs or NCT
ids.

Tier of a scientists-section source comes from its "Evidence type:" line (kept verbatim as
``evidence_type``): "Animal or lab work" -> preclinical, "Tagged human evidence" -> human,
"Published research" (or no line) -> ``None``. Every source in a "What people say on ..." or
"Other anecdote evidence" section is anecdotal; its kind comes from the platform after " — "
in the header (Reddit, X/Twitter, YouTube, Instagram), then from the section's platform, then
from the platform named in the title (the seed's Instagram reel is listed as "online"), else
``other``.

Each source's summary is its first line after the header; further unrecognised lines end the
source (they are most likely an unknown heading) and are dropped. Repeated source ids keep
their first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.article_sections import people_platform


@dataclass(frozen=True)
class SourceRecord:
    sid: str
    title: str
    kind: str
    platform: str | None
    summary: str
    section: str  # "scientists" or "people"
    tier: str | None
    evidence_type: str | None = None  # the "Evidence type:" sentence as published


# Every pattern here is a literal followed by single, non-nested character classes, so
# matching stays linear even on hostile input.
_SOURCE_HEADER = re.compile(r"\(source (s[0-9]+)\)\s*$")

_PLATFORM_KINDS = (
    ("reddit", "reddit"),
    ("twitter", "x"),
    ("youtube", "youtube"),
    ("instagram", "instagram"),
)

_WEB_TITLE_MARKERS = (" | ", "[19", "[20", "guide", "buying")


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


def _evidence_tier(text: str) -> str | None:
    lowered = text.lower()
    if "animal" in lowered or "lab work" in lowered:
        return "preclinical"
    if "human" in lowered:
        return "human"
    if "anecdot" in lowered:
        return "anecdotal"
    return None


def source_header(title: str, platform: str | None, sid: str) -> str:
    """The header line of a source, as the published pages print it."""
    return f"{title} — {platform} (source {sid})" if platform else f"{title} (source {sid})"


@dataclass
class _Pending:
    sid: str
    title: str
    platform: str | None
    section: str
    section_platform: str | None
    summary: str | None = None
    evidence_type: str | None = None
    saw_evidence: bool = False

    def finish(self) -> SourceRecord:
        if self.section == "scientists":
            kind = _scientist_kind(self.title)
            tier = _evidence_tier(self.evidence_type or "")
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
            evidence_type=self.evidence_type or None,
        )


def _split_header(header: str, section: str) -> tuple[str, str | None]:
    if section == "people":
        title, sep, platform = header.rpartition(" — ")
        if sep and title.strip() and platform.strip():
            return title.strip(), platform.strip()
    return header.strip(), None


class SourceSection:
    """The lines of one source section: a header opens a source, its summary and evidence-type
    lines follow it, anything else ends it."""

    def __init__(self, key: str, heading: str, seen: set[str]) -> None:
        self.key, self.seen = key, seen
        self.platform = people_platform(heading)
        self.sources: list[SourceRecord] = []
        self.pending: _Pending | None = None

    def flush(self) -> None:
        if self.pending is not None and self.pending.sid not in self.seen:
            self.seen.add(self.pending.sid)
            self.sources.append(self.pending.finish())
        self.pending = None

    def feed(self, line: str) -> None:
        match = _SOURCE_HEADER.search(line)
        pending = self.pending
        if match:
            self.flush()
            header_title, platform = _split_header(line[: match.start()], self.key)
            self.pending = _Pending(match.group(1), header_title, platform, self.key, self.platform)
        elif pending is None:
            return
        elif line.lower().startswith("evidence type:") and not pending.saw_evidence:
            pending.saw_evidence = True
            pending.evidence_type = line.split(":", 1)[1].strip()
        elif pending.summary is None and not pending.saw_evidence:
            pending.summary = line
        else:
            self.flush()
