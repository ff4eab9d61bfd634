"""Server-rendered public pages: the article list, each article, and the ledger itself.

Plain HTML with no JavaScript, so the pages work everywhere and a strict Content Security
Policy can be added without exceptions. Every number on an article page comes from
``ledger.stats`` (the ledger entries), the same as the JSON API. Pages show people's text
through ``redact_numbers``; the JSON API cannot (entries must stay byte-exact to verify).
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request
from sqlalchemy import select

from bot.catalogue.articles import find_article
from bot.ops.services import current as current_services
from ledger.chain import head, public_entry
from ledger.confidence import FORMULA
from ledger.models import TIERS, Article, LedgerEntry
from ledger.redact import redact_numbers
from ledger.stats import (
    SCIENTISTS_SECTION_KINDS,
    SOURCE_GROUP_LABELS,
    load_ledgers,
    pending_counts,
    stats_for,
)

# Templates and style.css live in the app's own bot/web/templates and bot/web/static.
bp = Blueprint("public", __name__)

LEDGER_PAGE_SIZE = 50
PAYLOAD_PREVIEW_CHARS = 160
PEOPLE_GROUPS = (("reddit", "Reddit"), ("x", "X"), ("other", "Other platforms"))


@bp.app_template_filter("redact_numbers")
def _redact_numbers(text: str | None) -> str:
    """A second guard on every page: text is redacted when written, but the ledger is forever
    and an entry written before (or around) that rule must still not put a number on screen."""
    return redact_numbers(text or "")


def _read_session():
    return current_services().read_sessions()


def _chart(claims: dict[str, int]) -> list[dict]:
    """Bar geometry for the inline SVG, computed here so the template holds no arithmetic."""
    top = max(claims.values(), default=0) or 1
    return [
        {"tier": tier, "count": claims[tier], "width": round(300 * claims[tier] / top)}
        for tier in TIERS
    ]


@bp.get("/")
def index():
    with _read_session() as session:
        articles = session.scalars(select(Article).order_by(Article.slug)).all()
        stats = stats_for(session, [a.slug for a in articles])
        head_seq, head_hash = head(session)
    rows = [(a, stats[a.slug]) for a in articles]
    return render_template(
        "index.html", rows=rows, formula=FORMULA, head_seq=head_seq, head_hash=head_hash
    )


@bp.get("/a/<slug>")
def article(slug: str):
    with _read_session() as session:
        found = find_article(session, slug)
        if found is None:
            return render_template(
                "error.html", title="Not found", message=f"There is no article “{slug}” yet."
            ), 404
        ledger = load_ledgers(session, [found.slug])[found.slug]
        stats = ledger.stats(pending_counts(session, [found.slug])[found.slug])
        head_seq, head_hash = head(session)
    people = {
        group: [s for s in ledger.sources if s.group == group] for group, _label in PEOPLE_GROUPS
    }
    people["other"] = [s for s in people["other"] if s.kind not in SCIENTISTS_SECTION_KINDS]
    return render_template(
        "article.html",
        article=found,
        stats=stats,
        chart=_chart(stats.claims),
        group_labels=SOURCE_GROUP_LABELS,
        scientists=[s for s in ledger.sources if s.kind in SCIENTISTS_SECTION_KINDS],
        source_tiers=ledger.source_tiers(),
        people=people,
        people_groups=PEOPLE_GROUPS,
        contributed=[c for c in ledger.claims if c.kind == "evidence"],
        open_questions=[q for q in ledger.questions if q.status == "open"],
        answered_questions=[q for q in ledger.questions if q.status == "answered"],
        limits=[line for line in (found.limits or "").splitlines() if line.strip()],
        formula=FORMULA,
        head_seq=head_seq,
        head_hash=head_hash,
    )


def _preview(payload: dict) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    if len(text) > PAYLOAD_PREVIEW_CHARS:
        text = text[: PAYLOAD_PREVIEW_CHARS - 1] + "…"
    return text


@bp.get("/ledger")
def ledger():
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 10**6:
        return render_template(
            "error.html", title="Bad page", message="page must be a whole number from 1"
        ), 400
    page = int(raw)
    with _read_session() as session:
        head_seq, head_hash = head(session)
        top = head_seq - (page - 1) * LEDGER_PAGE_SIZE
        rows = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.seq <= top)
            .order_by(LedgerEntry.seq.desc())
            .limit(LEDGER_PAGE_SIZE)
        ).all()
        entries = [public_entry(row) for row in rows]
    pages = max(1, -(-head_seq // LEDGER_PAGE_SIZE))
    if page > pages:
        return render_template(
            "error.html", title="Not found", message=f"The ledger has {pages} page(s)."
        ), 404
    for entry in entries:
        entry["preview"] = _preview(entry["payload"])
    return render_template(
        "ledger.html",
        entries=entries,
        page=page,
        pages=pages,
        head_seq=head_seq,
        head_hash=head_hash,
        page_size=LEDGER_PAGE_SIZE,
    )
