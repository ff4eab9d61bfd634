"""The public JSON API: articles with their statistics, and the ledger in its public format.

Everything here is read-only and public, so every response may be read from any origin.
Ledger entries never change once written; pages of them carry an ETag built from the seqs
and hashes they contain, so mirrors can poll cheaply with ``If-None-Match``. The article
responses are cached by the ledger head they were made at (``bot.web.cache``, as the pages).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from bot.catalogue.articles import find_article
from bot.ops.services import current as current_services
from bot.web.cache import article_ledger, article_ledgers, cached
from bot.web.limits import PAGE_DEFAULT, PAGE_MAX, SEQ_MAX
from bot.web.openapi import document
from ledger.article_counts import declared
from ledger.article_layout import placed_sections, sections_of
from ledger.article_sections import SOURCE_SECTIONS
from ledger.chain import head, public_entry
from ledger.checkpoints import head_summary
from ledger.models import TIERS, Article, LedgerEntry
from ledger.stats import ArticleLedger, pending_counts
from ledger.tree import CannotServe

bp = Blueprint("api", __name__, url_prefix="/api")
_ENTRIES = LedgerEntry.__table__

_DIGITS = re.compile(r"[0-9]{1,10}")


class ApiError(HTTPException):
    def __init__(self, code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.code, self.error = code, error


def error_response(code: int, error: str, message: str) -> Response:
    """JSON errors, CORS included: app-level handlers run outside this blueprint's hooks."""
    response = jsonify(error=error, message=message)
    response.status_code = code
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def open_to_all(blueprint: Blueprint, allow_headers: str = "If-None-Match") -> None:
    """JSON errors and CORS for a public, read-only blueprint (this one and ``tlog``)."""

    @blueprint.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.code, error.error, error.description)

    @blueprint.errorhandler(CannotServe)
    def _cannot_serve(error: CannotServe):
        return error_response(404, "not_found", f"the log cannot prove this: {error}")

    @blueprint.after_request
    def _cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = allow_headers
        response.headers["Access-Control-Expose-Headers"] = "ETag"
        return response


open_to_all(bp)


def _read_session():
    return current_services().read_sessions()


def int_arg(name: str, default: int | None, low: int, high: int) -> int:
    """A whole-number query parameter in [low, high]; ``default`` None makes it required."""
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ApiError(400, "bad_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _find_article(session, slug: str) -> Article:
    article = find_article(session, slug)
    if article is None:
        raise ApiError(404, "not_found", f"no article {slug!r}")
    return article


def article_json(
    article: Article, ledger: ArticleLedger, pending: int, *, detail: bool = False
) -> dict[str, Any]:
    """An article with the ledger's own counts (``stats``) and, beside them, the counts the
    published article declared (``declared``); the detail adds its sections in page order."""
    stats = ledger.stats(pending)
    sections = sections_of(ledger.article)
    body = {
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "limits": article.limits,
        "url": f"/a/{article.slug}",
        "stats": stats.as_dict(),
        "declared": declared(sections, stats).as_dict(),
    }
    if detail:
        body["article_seq"] = ledger.article_seq
        body["sections"] = [
            {**section, "sources": [s.sid for s in shown]}
            if section["key"] in SOURCE_SECTIONS
            else section
            for section, shown in placed_sections(sections, ledger.sources)
        ]
    return body


def _conditional(response: Response, etag: str, max_age: int) -> Response:
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response.make_conditional(request)


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/articles")
def articles():
    with _read_session() as session:
        now = head(session)
        rows = session.scalars(select(Article).order_by(Article.slug)).all()
        pending = pending_counts(session, [a.slug for a in rows])

        def body():
            ledgers = article_ledgers(session, [a.slug for a in rows], now)
            return jsonify(
                articles=[article_json(a, ledgers[a.slug], pending[a.slug]) for a in rows]
            )

        return cached(now, ("api.articles", tuple(pending.items())), body)


@bp.get("/articles/<slug>")
def article(slug: str):
    with _read_session() as session:
        found = _find_article(session, slug)
        now = head(session)
        pending = pending_counts(session, [found.slug])[found.slug]

        def body():
            ledger = article_ledger(session, found.slug, now)
            return jsonify(article_json(found, ledger, pending, detail=True))

        return cached(now, ("api.article", found.slug, pending), body)


@bp.get("/articles/<slug>/claims")
def claims(slug: str):
    tier = request.args.get("tier")
    if tier is not None and tier not in TIERS:
        raise ApiError(400, "bad_request", "tier must be one of: " + ", ".join(TIERS))
    with _read_session() as session:
        found = _find_article(session, slug)
        now = head(session)

        def body():
            ledger = article_ledger(session, found.slug, now)
            items = [c.as_dict() for c in ledger.claims if tier is None or c.tier == tier]
            return jsonify(slug=found.slug, tier=tier, claims=items)

        return cached(now, ("api.claims", found.slug, tier), body)


@bp.get("/articles/<slug>/questions")
def questions(slug: str):
    with _read_session() as session:
        found = _find_article(session, slug)
        now = head(session)

        def body():
            ledger = article_ledger(session, found.slug, now)
            return jsonify(slug=found.slug, questions=[q.as_dict() for q in ledger.questions])

        return cached(now, ("api.questions", found.slug), body)


@bp.get("/ledger")
def ledger_page():
    after = int_arg("after", 0, 0, SEQ_MAX)
    limit = int_arg("limit", PAGE_DEFAULT, 1, PAGE_MAX)
    with _read_session() as session:
        # Core rows, not ORM objects: monitors page through the whole ledger here.
        rows = session.execute(
            select(_ENTRIES).where(_ENTRIES.c.seq > after).order_by(_ENTRIES.c.seq).limit(limit)
        ).all()
        entries = [public_entry(row) for row in rows]
    next_after = entries[-1]["seq"] if entries else after
    body = {"after": after, "limit": limit, "next_after": next_after, "entries": entries}
    links = "|".join(f"{e['seq']}:{e['hash']}" for e in entries)
    etag = hashlib.sha256(f"{after}/{limit}/{links}".encode()).hexdigest()[:32]
    # A page can still grow until it is full, so caches must revalidate it.
    return _conditional(jsonify(body), etag, max_age=0)


@bp.get(f"/ledger/<int(max={SEQ_MAX}):seq>")
def ledger_entry(seq: int):
    with _read_session() as session:
        row = session.get(LedgerEntry, seq)
        entry = public_entry(row) if row is not None else None
    if entry is None:
        raise ApiError(404, "not_found", f"no ledger entry {seq}")
    return _conditional(jsonify(entry), entry["hash"], max_age=86400)


@bp.get("/ledger/head")
def ledger_head():
    with _read_session() as session:
        seq, digest = head(session)
        tree = head_summary(session.connection(), seq)
    return jsonify(seq=seq, hash=digest, **tree)
