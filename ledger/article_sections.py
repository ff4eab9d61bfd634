"""The published article format's vocabulary: its headings, fixed sentences and count labels.

The parser (``article_format``), the writer (``article_export``), the page and the count
comparison (``article_counts``) all read the format through these tables, so a heading or a
sentence the published pages change is changed here once, and reading and writing agree.

An article's ``sections`` (stored in its ``article`` ledger entry) are JSON objects in page
order, each with a ``key`` and the ``heading`` as published (``None`` for the lines between
the title and the first heading). Empty fields are left out; see ``article_text`` for what
each key carries.
"""

from __future__ import annotations

import re
from typing import Any

# Lowercased heading -> section key. "What people say on <platform>" is matched separately.
HEADINGS = {
    "regeneration vs degeneration — where this fits": "framing",
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
PEOPLE_HEADING = re.compile(r"what people say on (.+)", re.IGNORECASE)
CONFIDENCE_PREFIX = "quantified confidence"
TOPIC_PREFIX = "this topic:"
SOURCE_SECTIONS = ("scientists", "people")
SECTION_KEYS = tuple(dict.fromkeys(("framing", "topic", *HEADINGS.values(), "confidence")))

# The sentence a "What scientists say" source carries for its tier, as the published pages
# word it; shown for sources whose entry predates the stored sentence.
EVIDENCE_TYPES: dict[str | None, str] = {
    "preclinical": "Animal or lab work — shows mechanism or early signal, not proof in people.",
    "human": "Tagged human evidence in this ledger — check sample size and design.",
    None: "Published research.",
}

# Inventory labels as printed, matched by prefix after lowercasing -> the key of the count.
INVENTORY_KEYS = (
    ("scientific sources", "scientific_sources"),
    ("claims tagged human", "human_claims"),
    ("claims tagged preclinical", "preclinical_claims"),
    ("claims tagged anecdotal", "anecdotal_claims"),
    ("reddit posts", "reddit"),
    ("x posts", "x"),
    ("other anecdote", "other_anecdote"),
    ("total sources", "total_sources"),
)
# "How many people take it" count lines, by how their text starts.
HOW_MANY_KEYS = (
    ("anecdote source", "anecdote_sources"),
    ("anecdote-tier claim", "anecdote_claims"),
)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(value: str, sep: str = "-") -> str:
    return _NON_ALNUM.sub(sep, value.lower()).strip(sep)


def heading_of(line: str) -> tuple[str, str, str | None] | None:
    """(key, heading, rest) when ``line`` opens a section, else None.

    The confidence line is a section of its own: its heading is the text before the colon and
    ``rest`` (the score as printed) follows on the same line; other headings have no rest.
    """
    lowered = line.lower()
    key = HEADINGS.get(lowered)
    if key is not None:
        return key, line, None
    if PEOPLE_HEADING.fullmatch(line):
        return "people", line, None
    if lowered.startswith(CONFIDENCE_PREFIX) and ":" in line:
        heading, rest = line.split(":", 1)
        return "confidence", heading.strip(), rest.strip()
    return None


def people_platform(heading: str | None) -> str | None:
    match = PEOPLE_HEADING.fullmatch(heading or "")
    return match.group(1).strip() if match else None


def inventory_key(label: str) -> str:
    lowered = label.strip().lower()
    for prefix, key in INVENTORY_KEYS:
        if lowered.startswith(prefix):
            return key
    return slugify(label, "_")


def how_many_key(text: str) -> str | None:
    lowered = text.strip().lower()
    return next((key for prefix, key in HOW_MANY_KEYS if lowered.startswith(prefix)), None)


def declared_inventory(sections: list[dict[str, Any]]) -> dict[str, int]:
    """The inventory's counts by key, as declared; a key's first occurrence wins."""
    counts: dict[str, int] = {}
    for section in sections:
        if section.get("key") != "inventory":
            continue
        for item in section.get("items", ()):
            if isinstance(item.get("count"), int) and isinstance(item.get("label"), str):
                key = inventory_key(item["label"])
                if key:
                    counts.setdefault(key, item["count"])
    return counts
