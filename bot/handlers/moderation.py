"""Moderator commands by text: pending, show, approve, reject.

Authorization comes first: from any number that is not a moderator's, these commands read
nothing and change nothing — whether typed or sent by a tapped button (``bot.parsing.buttons``
turns a tap into the very same command). ``pending`` and ``show`` offer buttons for the item
they name (WhatsApp; the outbox drops them elsewhere, and the text says what to type).
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.handlers.context import Context, Outcome
from bot.media.evidence import check_files_present, kept_hashes, media_rows
from bot.messaging.sms import fit_lines
from bot.moderation.notices import describe_item, review_buttons
from bot.moderation.review import DecisionError, phone_decider, review
from bot.parsing import Approve, Pending, Reject, Show
from ledger.decisions import publication
from ledger.models import Article, Evidence, LedgerEntry

NOT_AUTHORIZED = "Not authorized: moderator commands only work from a moderator's number."
SHOW_SEGMENTS = 10  # a whole paste is up to 1,600 characters
PENDING_LINES = 8


def handle(command: Approve | Reject | Pending | Show, ctx: Context) -> Outcome:
    if not ctx.is_moderator:
        return Outcome(NOT_AUTHORIZED)
    return _COMMANDS[type(command)](command, ctx)


def _pending(command: Pending, ctx: Context) -> Outcome:
    query = select(Evidence).where(Evidence.status == "pending")
    if command.slug:
        query = query.join(Article).where(Article.slug == command.slug)
    total = ctx.session.scalar(select(func.count()).select_from(query.subquery()))
    if not total:
        where = f" on {command.slug}" if command.slug else ""
        return Outcome(f"Nothing waits for review{where}.")
    items = ctx.session.scalars(
        query.order_by(Evidence.created_at, Evidence.id).limit(PENDING_LINES)
    ).all()
    lines = [describe_item(e) for e in items]
    first = f"E{items[0].id}"
    tail = f"{total} waiting. Send: show {first} / approve {first} / reject {first} <reason>"
    return Outcome(
        fit_lines(lines, tail, ctx.settings.max_segments),
        buttons=review_buttons(items[0], Show(items[0].id)),
    )


def _show(command: Show, ctx: Context) -> Outcome:
    """The whole item as approving would publish it: numbers already replaced, and counted."""
    evidence = ctx.session.get(Evidence, command.evidence_id)
    if evidence is None:
        return Outcome(f"There is no evidence item E{command.evidence_id}.")
    shown = publication(evidence)
    ids = "; ".join(
        f"{name}: {', '.join(values)}" for name, values in shown.identifiers.items() if values
    )
    removed = (
        f"{shown.removed} number{'' if shown.removed == 1 else 's'} will be removed before "
        "publishing."
        if shown.removed
        else ""
    )
    files = media_line(evidence, ctx.public_url)
    decided = (
        f" ({evidence.status} by {evidence.decided_by})" if evidence.status != "pending" else ""
    )
    text = "\n".join(
        part
        for part in (
            f"E{evidence.id}{decided} on {evidence.article.title} q:{evidence.question_id}: "
            f'"{shown.question}"',
            f"Suggested: {evidence.suggested_tier} ({evidence.suggestion_reason}); "
            f"kind {evidence.source_kind}",
            f"IDs: {ids}" if ids else "",
            files,
            removed,
            f"Paste: {shown.paste.text}",
        )
        if part
    )
    # Still waiting: the buttons decide it, or go back to the queue.
    buttons = review_buttons(evidence, Pending(None)) if evidence.status == "pending" else ()
    return Outcome(text, max_segments=SHOW_SEGMENTS, buttons=buttons)


def _decide(command: Approve | Reject, ctx: Context) -> Outcome:
    approve = isinstance(command, Approve)
    try:
        if approve:
            check_files_present(ctx.session, ctx.settings, command.evidence_id)
        done = review(
            ctx.session,
            command.evidence_id,
            moderator=phone_decider(ctx.pseudonym, ctx.contact.number, ctx.contact.channel),
            approve=approve,
            now=ctx.now,
            public_url=ctx.public_url,
            paste_key=ctx.paste_key,
            log_key=ctx.log_key,
            tier=command.tier if approve else None,
            reason=None if approve else command.reason,
        )
    except DecisionError as exc:
        return Outcome(str(exc))
    outcome = done.result
    decision = outcome.decision
    if not outcome.decided:
        who = "you" if decision.moderator == ctx.pseudonym else decision.moderator_label
        return Outcome(
            f"E{command.evidence_id} was already {decision.outcome} by {who} at "
            f"{decision.decided_at:%Y-%m-%d %H:%M} UTC. Nothing changed."
        )
    notices = done.notices
    told = {"receipt:": "contributor", "arrived:": "asker"}
    who = [name for prefix, name in told.items() if any(n.key.startswith(prefix) for n in notices)]
    told_line = f" Texted the {' and '.join(who)}." if who else ""
    if decision.outcome == "approved":
        digest = ctx.session.get(LedgerEntry, decision.evidence_seq).hash
        reply = (
            f"E{command.evidence_id} approved as {decision.tier}: ledger entry "
            f"#{decision.evidence_seq} ({digest[:16]}).{told_line}"
        )
    else:
        reply = (
            f"E{command.evidence_id} rejected; recorded as ledger entry "
            f"#{decision.moderation_seq}.{told_line}"
        )
    dropped = () if decision.outcome == "approved" else kept_hashes(outcome.evidence)
    return Outcome(reply, notices=notices, forget_media=dropped)


def media_line(evidence: Evidence, public_url: str) -> str:
    """'Files: JPEG, 120 KB; 1 refused (…). See them: <item page>' — the page needs a login."""
    rows = media_rows(evidence.media)
    if not rows:
        return ""
    kept = [r["label"] for r in rows if "sha256" in r]
    refused = [r["refused"] for r in rows if "refused" in r]
    parts = [f"Files: {'; '.join(kept)}" if kept else "Files: none kept"]
    if refused:
        parts.append(f"{len(refused)} refused ({'; '.join(refused)})")
    link = f" See them: {public_url}/moderate/e/{evidence.id}" if kept else ""
    return ", ".join(parts) + "." + link


_COMMANDS = {Pending: _pending, Show: _show, Approve: _decide, Reject: _decide}
