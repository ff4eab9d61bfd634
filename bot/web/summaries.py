"""One line of plain words for a ledger entry: what it records, for people reading /ledger.

The JSON stays one click away (each row links to it and to its proof); this is the line a
reader scans. Every string is shortened, never reworded, and passes the same number
redaction as the rest of the pages (the template applies it).
"""

from __future__ import annotations

from typing import Any

LINE_CHARS = 140


def _cut(text: Any, limit: int = LINE_CHARS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _question(p: dict) -> str:
    return f"Question q:{p.get('node_id', '?')}: {_cut(p.get('question'))}"


def _claim(p: dict) -> str:
    sources = ", ".join(str(s) for s in p.get("sources") or ()) or p.get("sid") or ""
    tier = p.get("tier") or "untiered"
    return f"{tier.capitalize()} claim{f' ({sources})' if sources else ''}: {_cut(p.get('text'))}"


def _source(p: dict) -> str:
    return f"Source {p.get('sid', '?')} ({p.get('kind', 'other')}): {_cut(p.get('title'))}"


def _evidence(p: dict) -> str:
    tier = p.get("tier") or "untiered"
    return (
        f"{tier.capitalize()} evidence E{p.get('evidence_id', '?')} for q:{p.get('node_id', '?')}:"
        f" {_cut(p.get('paste'), 110)}"
    )


def _moderation(p: dict) -> str:
    evidence = f"E{p.get('evidence_id', '?')}"
    if p.get("decision") == "approved":
        return f"{evidence} approved as {p.get('tier', '?')} (entry #{p.get('evidence_seq')})"
    reason = _cut(p.get("reason"), 100)
    return f"{evidence} rejected{': ' + reason if reason else ''} (the paste is not published)"


def _article(p: dict) -> str:
    return f"Article: {_cut(p.get('title'))}"


SUMMARIES = {
    "question": _question,
    "claim": _claim,
    "source": _source,
    "evidence": _evidence,
    "moderation": _moderation,
    "article": _article,
}


def summary(kind: str, payload: dict) -> str:
    """The entry's line; an unknown kind (a newer ledger) shows its keys, not a crash."""
    make = SUMMARIES.get(kind)
    if make is None or not isinstance(payload, dict):
        keys = ", ".join(sorted(payload)) if isinstance(payload, dict) else ""
        return _cut(f"{kind}: {keys}")
    try:
        return make(payload)
    except (AttributeError, TypeError):  # a payload of an unexpected shape still gets a line
        return _cut(f"{kind}: {', '.join(sorted(payload))}")
