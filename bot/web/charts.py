"""Geometry for the article page's inline SVG charts, computed here so templates hold none.

The timeline shows the article's ledger entries per month, each month's bar stacked by tier
(claims and approved evidence) with every other entry (sources, questions, decisions) in grey
on top: when the catalogue grew, and with what kind of evidence.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.models import TIERS, LedgerEntry

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 460, 180, 34, 24, 10
MONTHS_SHOWN = 24
STACK = (*TIERS, "other")


@dataclass
class _Counted:
    """An article's entries per month and tier, up to ``seq`` (whose hash is ``digest``)."""

    seq: int = 0
    digest: str | None = None
    per_month: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))


_counted: dict[tuple[str, str], _Counted] = {}
_lock = threading.Lock()


def _per_month(session: Session, slug: str, tier_of: dict[int, str]) -> dict[str, Counter]:
    """Counted once and then only for new entries: entries are append-only, so a month's
    counts only grow (reading every entry's month took 78-89% of a 100,000-claim page).
    A ledger whose entry at the counted seq has another hash (a restore) is counted again."""
    key = (session.get_bind().url.render_as_string(hide_password=True), slug)
    with _lock:
        known = _counted.get(key)
    if known is not None and known.seq:
        digest = session.scalar(select(LedgerEntry.hash).where(LedgerEntry.seq == known.seq))
        if digest != known.digest:
            known = None
    counted = _Counted() if known is None else known
    month = func.substr(LedgerEntry.created_at, 1, 7)
    rows = session.execute(
        select(LedgerEntry.seq, month, LedgerEntry.hash)
        .where(LedgerEntry.slug == slug, LedgerEntry.seq > counted.seq)
        .order_by(LedgerEntry.seq)
    ).all()
    if rows:
        grown = _Counted(rows[-1][0], rows[-1][2], defaultdict(Counter))
        for when, counts in counted.per_month.items():
            grown.per_month[when].update(counts)
        for seq, when, _digest in rows:
            grown.per_month[when][tier_of.get(seq, "other")] += 1
        counted = grown
        with _lock:
            _counted[key] = grown
    return counted.per_month


def timeline(session: Session, slug: str, tier_of: dict[int, str]) -> dict | None:
    """Bars per month (the last 24 with entries), stacked in STACK order; None if empty."""
    per_month = _per_month(session, slug, tier_of)
    if not per_month:
        return None
    months = sorted(per_month)[-MONTHS_SHOWN:]
    top = max(sum(per_month[m].values()) for m in months)
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / len(months)
    bar_w = max(4.0, min(36.0, step * 0.7))
    bars = []
    for i, m in enumerate(months):
        x = LEFT + i * step + (step - bar_w) / 2
        y = HEIGHT - BOTTOM
        parts = []
        for name in STACK:
            count = per_month[m][name]
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append({"tier": name, "count": count, "y": round(y, 1), "h": round(h, 1)})
        label_every = max(1, len(months) // 6)
        bars.append(
            {
                "month": m,
                "x": round(x, 1),
                "w": round(bar_w, 1),
                "parts": parts,
                "label": m if i % label_every == 0 or i == len(months) - 1 else "",
                "total": sum(per_month[m].values()),
            }
        )
    summary = "; ".join(
        f"{b['month']}: " + ", ".join(f"{p['count']} {p['tier']}" for p in b["parts"]) for b in bars
    )
    return {
        "bars": bars,
        "top": top,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "base": HEIGHT - BOTTOM,
        "summary": summary,
    }
