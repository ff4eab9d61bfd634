"""Server-rendered public pages: the article list, each article, and the ledger itself.

Plain HTML with no JavaScript, so the pages work everywhere and a strict Content Security
Policy can be added without exceptions. An article page shows every section of the published
article in its order, from the article's ledger entries (``ledger.article_layout``). Every
count it leads with comes from ``ledger.stats`` (the ledger entries, "catalogued"), the same
as the JSON API; what the published article declared stands beside them, labelled as declared
(``ledger.article_counts``). Pages show people's text through ``redact_numbers``; the JSON API
cannot (entries must stay byte-exact to verify).

Every page is cached by the ledger head it was made at, with whatever else it shows that is
not in the ledger (evidence waiting for review, the latest checkpoint) in its key, and an
article's entries are folded once per process and then extended (``bot.web.cache``).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from bot.catalogue.articles import find_article
from bot.catalogue.safety import asks_for_advice
from bot.ops.services import current as current_services
from bot.web.cache import article_ledger, cached
from bot.web.charts import timeline
from bot.web.links import channels, identifier_links
from bot.web.summaries import summary
from ledger.article_counts import CATALOGUED, Declared
from ledger.article_counts import declared as declared_counts
from ledger.article_layout import placed_sections, sections_of
from ledger.article_sections import EVIDENCE_TYPES, SOURCE_SECTIONS
from ledger.chain import head, public_entry
from ledger.checkpoints import latest as latest_checkpoint
from ledger.confidence import FORMULA
from ledger.models import TIERS, Article, LedgerEntry
from ledger.redact import redact_numbers
from ledger.stats import (
    SOURCE_GROUP_LABELS,
    ArticleLedger,
    ArticleStats,
    SourceItem,
    pending_counts,
)

# Templates and style.css live in the app's own bot/web/templates and bot/web/static.
bp = Blueprint("public", __name__)

LEDGER_PAGE_SIZE = 50
TAIL = ("unknowns", "limits", "footer")


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
        now = head(session)
        articles = session.scalars(select(Article).order_by(Article.slug)).all()
        pending = pending_counts(session, [a.slug for a in articles])

        def page():
            rows = [
                (a, article_ledger(session, a.slug, now).stats(pending[a.slug])) for a in articles
            ]
            return render_template(
                "index.html", rows=rows, formula=FORMULA, head_seq=now[0], head_hash=now[1]
            )

        return cached(now, ("index", tuple(pending.items())), page)


# The catalogued inventory, in the published order; a row takes the published label when the
# article declared that count. Web pages get a row of their own: they are listed with the
# scientists but counted neither as scientific sources nor as anecdotes.
INVENTORY_ROWS = (
    ("scientific_sources", SOURCE_GROUP_LABELS["scientific"]),
    ("human_claims", "Claims tagged human evidence"),
    ("preclinical_claims", "Claims tagged preclinical (animal/lab)"),
    ("anecdotal_claims", "Claims tagged anecdotal"),
    ("reddit", SOURCE_GROUP_LABELS["reddit"]),
    ("x", SOURCE_GROUP_LABELS["x"]),
    ("other_anecdote", "Other anecdote sources (YouTube, Instagram, other)"),
    ("web", "Web pages listed with the scientists (not counted as scientific)"),
    ("total_sources", "Total sources in chain"),
)
LEDGER_SECTIONS = (
    ("inventory", {"key": "inventory", "heading": "Evidence inventory"}),
    ("confidence", {"key": "confidence", "heading": "Quantified confidence (this ledger)"}),
)
DEFAULT_LIMITS = {"key": "limits", "heading": "Safety and limits"}


def _inventory_rows(stats: ArticleStats, declared: Declared) -> list[dict]:
    checks = declared.by_key("inventory")
    rows = []
    for key, label in INVENTORY_ROWS:
        check = checks.pop(key, None)
        count = stats.sources_by_kind.get("web", 0) if key == "web" else CATALOGUED[key](stats)
        rows.append(
            {
                "label": check.label if check else label,
                "catalogued": count,
                "declared": check.declared if check else None,
                "differs": bool(check and check.differs),
            }
        )
    rows += [
        {"label": c.label, "catalogued": None, "declared": c.declared, "differs": False}
        for c in checks.values()
    ]
    return rows


def _page_sections(sections: list[dict]) -> list[dict]:
    """The published sections, plus the ones the page always shows: the ledger's own
    inventory and score (before the sources when the article printed none) and its limits."""
    sections = list(sections)
    for key, stub in LEDGER_SECTIONS:
        if any(s["key"] == key for s in sections):
            continue
        after = [i for i, s in enumerate(sections) if s["key"] == "inventory"]
        later = [i for i, s in enumerate(sections) if s["key"] in (*SOURCE_SECTIONS, *TAIL)]
        at = after[0] + 1 if after else later[0] if later else len(sections)
        sections.insert(at, dict(stub))
    if not any(s["key"] == "limits" for s in sections):
        footer = [i for i, s in enumerate(sections) if s["key"] == "footer"]
        sections.insert(footer[0] if footer else len(sections), dict(DEFAULT_LIMITS))
    return sections


def _evidence_type(source: SourceItem, key: str, tier: str | None) -> str | None:
    """The published sentence; for an entry from before it was stored, its tier's sentence."""
    if source.evidence_type or key != "scientists":
        return source.evidence_type
    return EVIDENCE_TYPES.get(tier, EVIDENCE_TYPES[None])


def _article_blocks(ledger: ArticleLedger, stats: ArticleStats, declared: Declared) -> list:
    """Every section in page order, with what the template needs beside its stored fields."""
    tiers = ledger.source_tiers()
    how_many = {c.label: c for c in declared.counts if c.section == "how_many"}
    blocks = []
    for section, shown in placed_sections(
        _page_sections(sections_of(ledger.article)), ledger.sources
    ):
        key = section["key"]
        block = {"key": key, "s": section, "heading": section.get("heading")}
        if key in SOURCE_SECTIONS:
            block["sources"] = [(s, _evidence_type(s, key, tiers.get(s.sid))) for s in shown]
        elif key == "how_many":
            block["counts"] = [
                (item, how_many.get(item.get("text"))) for item in section.get("items", ())
            ]
        elif key == "inventory":
            block["rows"] = _inventory_rows(stats, declared)
        blocks.append(block)
    return blocks


@bp.get("/a/<slug>")
def article(slug: str):
    with _read_session() as session:
        found = find_article(session, slug)
        if found is None:
            return render_template(
                "error.html", title="Not found", message=f"There is no article “{slug}” yet."
            ), 404
        now = head(session)
        pending = pending_counts(session, [found.slug])[found.slug]
        return cached(
            now, ("article", found.slug, pending), lambda: _article(session, found, now, pending)
        )


def _article(session, found: Article, now: tuple[int, str], pending: int) -> str:
    ledger = article_ledger(session, found.slug, now)
    stats = ledger.stats(pending)
    tiers = {claim.seq: claim.tier for claim in ledger.claims}
    growth = timeline(session, found.slug, tiers)
    declared = declared_counts(sections_of(ledger.article), stats)
    return render_template(
        "article.html",
        article=found,
        stats=stats,
        declared=declared,
        blocks=_article_blocks(ledger, stats, declared),
        chart=_chart(stats.claims),
        timeline=growth,
        reach=channels(current_services().settings),
        links=identifier_links,
        contributed=[c for c in ledger.claims if c.kind == "evidence"],
        # A dosing question is catalogued, but never shown as a call for evidence.
        open_questions=[
            q for q in ledger.questions if q.status == "open" and not asks_for_advice(q.question)
        ],
        answered_questions=[q for q in ledger.questions if q.status == "answered"],
        formula=FORMULA,
        article_seq=ledger.article_seq,
        head_seq=now[0],
        head_hash=now[1],
    )


@bp.get("/ledger")
def ledger():
    raw = request.args.get("page", "1")
    # Length first: int() of a 5,000-digit string raises (Python's 4,300-digit limit).
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or not 1 <= int(raw) <= 10**6:
        return render_template(
            "error.html", title="Bad page", message="page must be a whole number from 1"
        ), 400
    page = int(raw)
    with _read_session() as session:
        now = head(session)
        checkpoint = latest_checkpoint(session.connection())
        size = checkpoint.size if checkpoint is not None else None
        return cached(
            now, ("ledger", page, size), lambda: _ledger_page(session, page, now, checkpoint)
        )


def _ledger_page(session, page: int, now: tuple[int, str], checkpoint):
    head_seq, head_hash = now
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
        entry["summary"] = summary(entry["kind"], entry["payload"])
    return render_template(
        "ledger.html",
        entries=entries,
        page=page,
        pages=pages,
        head_seq=head_seq,
        head_hash=head_hash,
        page_size=LEDGER_PAGE_SIZE,
        checkpoint=checkpoint,
    )
