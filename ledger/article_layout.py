"""Where an article's sources go: the sections of its ``article`` entry, with sources placed.

The page and the writer (``article_export``) both lay an article out through
:func:`placed_sections`, so the page shows exactly the order an export writes. An article
entry from before sections were stored (title, summary, limits only) gets the layout the page
had then (:func:`sections_of`): the summary as its topic line, the four source sections, the
limits. A source that no section lists -- every source of such an article -- goes under the
heading its kind belongs to, which is added after the last source section when missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ledger.article_sections import SECTION_KEYS, SOURCE_SECTIONS
from ledger.stats import SCIENTISTS_SECTION_KINDS

Section = dict[str, Any]

KIND_HEADINGS = {"reddit": "What people say on Reddit", "x": "What people say on X"}
SCIENTISTS_HEADING = "What scientists say"
OTHER_HEADING = "Other anecdote evidence"
DEFAULT_SOURCE_SECTIONS = (
    ("scientists", SCIENTISTS_HEADING),
    ("people", KIND_HEADINGS["reddit"]),
    ("people", KIND_HEADINGS["x"]),
    ("people", OTHER_HEADING),
)
_AFTER_SOURCES = ("unknowns", "limits", "footer")


class SourceLike(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def kind(self) -> str: ...


S = TypeVar("S", bound=SourceLike)


def sections_of(article: Mapping[str, Any] | None) -> list[Section]:
    """The stored sections (well-formed ones only), or the layout the page had before them."""
    article = article or {}
    stored = article.get("sections")
    if isinstance(stored, list):
        return [s for s in stored if isinstance(s, dict) and s.get("key") in SECTION_KEYS]
    sections: list[Section] = []
    if isinstance(article.get("summary"), str) and article["summary"]:
        sections.append({"key": "topic", "text": article["summary"]})
    sections += [{"key": key, "heading": heading} for key, heading in DEFAULT_SOURCE_SECTIONS]
    limits = article.get("limits")
    if isinstance(limits, str) and limits.strip():
        items = [line.strip() for line in limits.splitlines() if line.strip()]
        sections.append({"key": "limits", "heading": "Safety and limits", "items": items})
    return sections


def home_heading(kind: str) -> str:
    """The heading a source of this kind is listed under when no section names it."""
    if kind in SCIENTISTS_SECTION_KINDS:
        return SCIENTISTS_HEADING
    return KIND_HEADINGS.get(kind, OTHER_HEADING)


def _insert_at(sections: list[Section]) -> int:
    sources = [i for i, s in enumerate(sections) if s["key"] in SOURCE_SECTIONS]
    if sources:
        return sources[-1] + 1
    later = [i for i, s in enumerate(sections) if s["key"] in _AFTER_SOURCES]
    return later[0] if later else len(sections)


def placed_sections(
    sections: Sequence[Section], sources: Sequence[S]
) -> list[tuple[Section, list[S]]]:
    """Each section with the sources it shows, in page order; every source exactly once."""
    by_sid = {source.sid: source for source in sources}
    listed: set[str] = set()
    placed: list[tuple[Section, list[S]]] = []
    for section in sections:
        shown: list[S] = []
        if section["key"] in SOURCE_SECTIONS:
            for sid in section.get("sources", ()):
                if sid in by_sid and sid not in listed:
                    listed.add(sid)
                    shown.append(by_sid[sid])
        placed.append((section, shown))
    for source in sources:
        if source.sid in listed:
            continue
        heading = home_heading(source.kind)
        home = next((shown for s, shown in placed if _same_heading(s, heading)), None)
        if home is None:
            key = "scientists" if heading == SCIENTISTS_HEADING else "people"
            home = []
            placed.insert(
                _insert_at([s for s, _ in placed]), ({"key": key, "heading": heading}, home)
            )
        home.append(source)
    return placed


def _same_heading(section: Section, heading: str) -> bool:
    own = section.get("heading")
    return (
        section["key"] in SOURCE_SECTIONS
        and isinstance(own, str)
        and own.lower() == heading.lower()
    )
