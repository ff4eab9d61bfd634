"""The web moderation queue: pending items, decisions (one or many), and the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, select

from bot.media.collect import forget
from bot.media.evidence import check_files_present, kept_hashes, media_rows
from bot.media.store import MediaStore
from bot.messaging import outbox
from bot.messaging.queueing import try_enqueue_sends
from bot.moderation.accounts import check_web_login
from bot.moderation.models import ModeratorAccount
from bot.moderation.review import DecisionError, review, web_decider
from bot.ops.services import current as current_services
from bot.parsing import normalize_slug
from bot.web import auth as web_auth
from bot.web.limits import SEQ_MAX
from bot.web.links import identifier_links
from ledger.db import transaction
from ledger.decisions import paste_digest_key, publication
from ledger.duplicates import Catalogue, catalogue, describe
from ledger.models import TIERS, Article, Decision, Evidence

bp = Blueprint("moderate", __name__, url_prefix="/moderate")
PAGE = 50
_ID = re.compile(r"[0-9]{1,10}")
MAX_PAGE = 100_000


@bp.app_context_processor
def _template_globals():
    # csrf_token() comes from Flask-WTF (bot.web.auth configures it).
    return {"moderator_name": web_auth.current_moderator}


def _services():
    return current_services()


@bp.route("/login", methods=["GET", "POST"])
def login():
    """CSRF is checked before this runs (CSRFProtect); then the throttle, then the password."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")
        if web_auth.login_blocked(username):
            return render_template(
                "moderate/login.html", error="Too many failed logins; wait 15 minutes."
            ), 429
        with _services().read_sessions() as session:
            account = check_web_login(session, username, password)
        if account is None:
            web_auth.record_failure(username)
            error = "Wrong name or password."
        else:
            web_auth.log_in(account)
            target = web_auth.safe_next(request.args.get("next"))
            return redirect(target or url_for("moderate.queue"))
    return render_template("moderate/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    """Ends the session on the server too: a copy of the cookie made before is worthless."""
    web_auth.log_out()
    return redirect(url_for("moderate.login"))


@bp.get("/")
@login_required
def queue():
    slug = normalize_slug(request.args.get("article", "")[:64]) or None
    with _services().read_sessions() as session:
        query = select(Evidence).where(Evidence.status == "pending")
        if slug:
            query = query.join(Article).where(Article.slug == slug)
        items = session.scalars(query.order_by(Evidence.created_at, Evidence.id).limit(PAGE)).all()
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        articles = session.scalars(select(Article.slug).order_by(Article.slug)).all()
        known = catalogue(session, [e.article_id for e in items])
        rows = [_row(e, known) for e in items]
    return render_template(
        "moderate/queue.html", items=rows, total=total, slug=slug, articles=articles, tiers=TIERS
    )


QUEUE_PREVIEW = 200


def _row(evidence: Evidence, known: Catalogue) -> dict:
    """What a moderator reviews: the paste exactly as approving would publish it, removed
    numbers marked (``pieces``: (text, removed) pairs), and the paste as received."""
    shown = publication(evidence)
    return {
        "id": evidence.id,
        "slug": evidence.article.slug,
        "title": evidence.article.title,
        "node_id": evidence.question_id,
        "question": shown.question,
        "paste": evidence.paste,
        "published": shown.paste.text,
        "pieces": shown.paste.pieces,
        "preview": _shortened(shown.paste.pieces, QUEUE_PREVIEW),
        "removed": shown.removed,
        "suggested_tier": evidence.suggested_tier,
        "reason": evidence.suggestion_reason,
        "source_kind": evidence.source_kind,
        "identifiers": {k: v for k, v in shown.identifiers.items() if v},
        "links": identifier_links(shown.identifiers),
        "duplicates": describe(
            known.find(evidence.article_id, evidence.identifiers, evidence.id), limit=5
        ),
        "media": media_rows(evidence.media),
        "created_at": evidence.created_at,
        "status": evidence.status,
        "decided_by": evidence.decided_by,
    }


def _shortened(pieces: tuple[tuple[str, bool], ...], limit: int) -> list[tuple[str, bool]]:
    """The first ``limit`` characters of the published text, never cutting a placeholder."""
    out, used = [], 0
    for text, removed in pieces:
        if used + len(text) > limit:
            kept = "" if removed else text[: max(0, limit - used)].rstrip()
            out.append((kept + "…", False))
            break
        out.append((text, removed))
        used += len(text)
    return out


@bp.get(f"/e/<int(max={SEQ_MAX}):evidence_id>")
@login_required
def item(evidence_id: int):
    with _services().read_sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        if evidence is None:
            abort(404)
        row = _row(evidence, catalogue(session, [evidence.article_id]))
        decision = session.scalar(select(Decision).where(Decision.evidence_id == evidence_id))
    return render_template("moderate/item.html", item=row, decision=decision, tiers=TIERS)


def decide_and_notify(evidence_id: int, approve: bool, tier: str | None, reason: str | None):
    """One decision in its own transaction; receipts queued after it commits."""
    services = _services()
    with transaction(services.sessions) as session:
        if approve:
            check_files_present(session, services.settings, evidence_id)
        done = review(
            session,
            evidence_id,
            moderator=web_decider(services.secret_key, web_auth.current_moderator() or "?"),
            approve=approve,
            now=datetime.now(UTC),
            public_url=services.settings.public_url or request.host_url,
            paste_key=paste_digest_key(services.secret_key),
            log_key=services.log_key,
            tier=tier,
            reason=reason,
        )
        new_ids = outbox.store(session, services.settings, done.notices)
        decision = done.result.decision
        dropped = kept_hashes(done.result.evidence) if done.decided and not approve else ()
        summary = (
            done.decided,
            decision.outcome,
            decision.moderator_label,
            decision.evidence_seq or decision.moderation_seq,
        )
    if dropped:  # a rejected item's files go once the rejection is on the record
        with services.read_sessions() as session:
            forget(session, MediaStore(services.settings.resolved_media_dir), dropped)
    try_enqueue_sends(services.queue, new_ids)
    return summary


def _message(evidence_id: int, summary) -> str:
    decided, status, who, seq = summary
    if decided:
        return f"E{evidence_id} {status}: ledger entry #{seq}."
    return f"E{evidence_id} was already {status} by {who}; nothing changed."


@bp.post("/decide")
@login_required
def decide_view():
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        abort(400, "Choose approve or reject.")
    ids = []
    for raw in request.form.getlist("evidence_id"):
        # ASCII digits only ("²".isdigit() is true), and within the 32-bit id column.
        if not _ID.fullmatch(raw) or int(raw) > SEQ_MAX:
            abort(400, "Bad evidence id.")
        ids.append(int(raw))
    if not ids:
        flash("Select at least one item.", "error")
        return redirect(url_for("moderate.queue"))
    tier = request.form.get("tier") or None
    if tier is not None and tier not in TIERS:
        abort(400, "Unknown tier.")
    # PostgreSQL text cannot hold NUL; a reason is shown to moderators and kept on the record.
    reason = request.form.get("reason", "").replace("\x00", "").strip()[:500] or None
    for evidence_id in ids:
        try:
            summary = decide_and_notify(evidence_id, action == "approve", tier, reason)
            flash(_message(evidence_id, summary), "ok" if summary[0] else "error")
        except DecisionError as exc:
            flash(str(exc), "error")
    # Only ever back into the queue, never off-site.
    return redirect(web_auth.safe_next(request.form.get("back")) or url_for("moderate.queue"))


@bp.get("/audit")
@login_required
def audit():
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    with _services().read_sessions() as session:
        decisions = session.scalars(
            select(Decision)
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
            .limit(PAGE)
            .offset((page - 1) * PAGE)
        ).all()
        rows = [
            {
                "evidence_id": d.evidence_id,
                "slug": d.evidence.article.slug,
                "outcome": d.outcome,
                "tier": d.tier,
                "reason": d.reason,
                "who": d.moderator_label,
                "pseudonym": d.moderator,
                "via": d.via,
                "when": d.decided_at,
                "entries": [s for s in (d.evidence_seq, d.moderation_seq) if s],
            }
            for d in decisions
        ]
        accounts = session.scalar(select(func.count()).select_from(ModeratorAccount))
    return render_template("moderate/audit.html", rows=rows, page=page, accounts=accounts)
