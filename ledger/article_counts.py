"""Declared vs catalogued: the published article's own counts beside the ledger's.

A published article prints counts of the publisher's whole ledger -- its evidence inventory,
its "How many people take it" lines, its confidence line, its footer -- while its page lists
only part of those sources (the seed declares 102 sources and lists 55). This ledger never
passes one off as the other. *Declared* is what the published article printed, read from its
``article`` entry; *catalogued* is what this ledger's entries add up to (``ledger.stats``),
the numbers every page and the API lead with. Where the article declared a count this module
pairs it with the catalogued count of the same thing, so pages and the API can say plainly
where the two differ.

Pairs: the inventory's scientific sources, human / preclinical / anecdotal claims, Reddit and
X posts, total sources with the same catalogued groups; "other anecdote sources (YouTube,
Instagram, etc.)" with the catalogued "other" group minus web pages (web pages are listed with
the scientists but are not anecdotes); "How many" anecdote sources with Reddit + X + other
anecdote sources, and its anecdote-tier claims with the anecdotal claims. A declared count of
anything else has no catalogued pair (``catalogued`` is None). The footer's numbers describe
the publisher's site (its ledger size, ranked and low-confidence claims, suggested prompts)
and are shown as declared only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.article_sections import how_many_key, inventory_key, slugify
from ledger.stats import ArticleStats

FOOTER_COUNTS = ("ledger_size", "ranked_more", "low_confidence", "suggested_prompts")
CONFIDENCE_FIELDS = ("value", "scale", "label", "formula", "text")


def other_anecdote_sources(stats: ArticleStats) -> int:
    return stats.sources["other"] - stats.sources_by_kind.get("web", 0)


def _anecdote_sources(stats: ArticleStats) -> int:
    return stats.sources["reddit"] + stats.sources["x"] + other_anecdote_sources(stats)


CATALOGUED: dict[str, Callable[[ArticleStats], int]] = {
    "scientific_sources": lambda s: s.sources["scientific"],
    "human_claims": lambda s: s.claims["human"],
    "preclinical_claims": lambda s: s.claims["preclinical"],
    "anecdotal_claims": lambda s: s.claims["anecdotal"],
    "reddit": lambda s: s.sources["reddit"],
    "x": lambda s: s.sources["x"],
    "other_anecdote": other_anecdote_sources,
    "total_sources": lambda s: s.total_sources,
    "anecdote_sources": _anecdote_sources,
    "anecdote_claims": lambda s: s.claims["anecdotal"],
}


@dataclass(frozen=True)
class CountCheck:
    key: str
    label: str  # as the published article words it
    section: str  # "inventory" or "how_many"
    declared: int
    catalogued: int | None

    @property
    def differs(self) -> bool:
        return self.catalogued is not None and self.catalogued != self.declared

    def sentence(self) -> str:
        if self.catalogued is None:
            return (
                f"the published article declares {self.declared}; this ledger keeps no such count"
            )
        if self.differs:
            return (
                f"the published article declares {self.declared};"
                f" this ledger catalogues {self.catalogued}"
            )
        return f"{self.declared}, as the published article declares"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "section": self.section,
            "declared": self.declared,
            "catalogued": self.catalogued,
            "differs": self.differs,
        }


@dataclass(frozen=True)
class Declared:
    counts: list[CountCheck] = field(default_factory=list)
    confidence: dict[str, Any] | None = None  # as printed, plus "differs"
    footer: dict[str, int] = field(default_factory=dict)

    def by_key(self, section: str) -> dict[str, CountCheck]:
        return {c.key: c for c in self.counts if c.section == section}

    @property
    def note(self) -> str | None:
        """One plain sentence on how the declared counts compare, for the page and the API."""
        if not self.counts:
            return None
        differing = [c for c in self.counts if c.differs]
        if not differing:
            return "The counts the published article declares match what this ledger catalogues."
        total = next((c for c in differing if c.key == "total_sources"), None)
        gist = (
            f": it declares {total.declared} sources and this ledger catalogues {total.catalogued}"
            if total
            else ""
        )
        return (
            "Declared counts are printed on the published article and describe the publisher's"
            " whole ledger; catalogued counts are computed from this ledger's entries. They"
            f" differ on {len(differing)} of {len(self.counts)} counts{gist}."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "note": self.note,
            "counts": [c.as_dict() for c in self.counts],
            "confidence": self.confidence,
            "footer": dict(self.footer),
        }


def _counts(sections: Sequence[Mapping[str, Any]], stats: ArticleStats) -> list[CountCheck]:
    checks: list[CountCheck] = []
    seen: set[tuple[str, str]] = set()
    for section in sections:
        name = section.get("key")
        if name not in ("inventory", "how_many"):
            continue
        for item in section.get("items", ()):
            if not isinstance(item, dict) or not isinstance(item.get("count"), int):
                continue
            label = item.get("label") if name == "inventory" else item.get("text")
            if not isinstance(label, str):
                continue
            if name == "inventory":
                key = inventory_key(label)
            else:
                key = how_many_key(label) or slugify(label, "_")
            if not key or (name, key) in seen:
                continue
            seen.add((name, key))
            catalogued = CATALOGUED[key](stats) if key in CATALOGUED else None
            checks.append(CountCheck(key, label, name, item["count"], catalogued))
    return checks


def declared(sections: Sequence[Mapping[str, Any]], stats: ArticleStats) -> Declared:
    """The article's declared counts, each beside its catalogued pair."""
    confidence = None
    footer: dict[str, int] = {}
    for section in sections:
        if section.get("key") == "confidence" and confidence is None:
            confidence = {
                k: section[k] for k in CONFIDENCE_FIELDS if isinstance(section.get(k), str)
            }
            value = f"{stats.confidence.value:.2f}"
            confidence["differs"] = (
                confidence.get("value") != value
                or confidence.get("label") != stats.confidence.label
            )
        elif section.get("key") == "footer":
            for name in FOOTER_COUNTS:
                if isinstance(section.get(name), int):
                    footer.setdefault(name, section[name])
    return Declared(_counts(sections, stats), confidence, footer)
