"""ingest slug|q:12|paste: queue a contributor's evidence for moderation."""

from __future__ import annotations

from bot.catalogue.articles import find_article, unknown_article_reply
from bot.handlers.ask import remember
from bot.handlers.context import Context, Outcome
from bot.media.clean import ACCEPTED
from bot.media.clean import describe as describe_file
from bot.media.evidence import attach
from bot.moderation.notices import alerts
from bot.parsing import Ingest
from ledger.analysis import analyze
from ledger.duplicates import already_catalogued, describe
from ledger.models import Evidence, QuestionNode


def handle(command: Ingest, ctx: Context) -> Outcome:
    node = ctx.session.get(QuestionNode, command.node_id)
    slug = command.slug or (node.article.slug if node is not None else None)
    if slug is None:
        return Outcome(
            f"There is no question q:{command.node_id}. Ask first with slug|question, "
            "then send ingest slug|q:ID|your paste"
        )
    article = find_article(ctx.session, slug)
    if article is None:
        return Outcome(unknown_article_reply(ctx.session, slug))
    if node is None or node.article_id != article.id:
        return Outcome(
            f"q:{command.node_id} is not a question on {article.title}. "
            f"Ask first with {article.slug}|your question, then send "
            f"ingest {article.slug}|q:ID|your paste"
        )
    arrived = _once(ctx.media)
    kept = [m for m in arrived if m.get("status") == "kept"]
    refused = [m for m in arrived if m.get("status") == "refused"]
    if not command.paste and not kept:
        return Outcome(
            files_answered=True,
            reply=f"Nothing was queued: {_refusals(refused) or 'the message had no text'}. "
            f"Send what the evidence says, or {ACCEPTED}, with "
            f"ingest {article.slug}|q:{node.id}|your paste",
        )
    analysis = analyze(command.paste, [m["content_type"] for m in kept])
    evidence = Evidence(
        article_id=article.id,
        question_id=node.id,
        paste=command.paste,
        contributor=ctx.pseudonym,
        contact_id=ctx.contact.id,
        suggested_tier=analysis.suggested_tier,
        suggestion_reason=analysis.reason,
        source_kind=analysis.source_kind,
        identifiers=analysis.identifiers(),
        media=arrived,
    )
    ctx.session.add(evidence)
    ctx.session.flush()
    attach(ctx.session, evidence.id, kept)
    remember(ctx, article.slug, node.id, offset=None)
    known = already_catalogued(ctx.session, article.id, evidence.identifiers, exclude=evidence.id)
    seen = f" Already in the ledger: {describe(known)}." if known else ""
    files = _files_line(kept, refused)
    return Outcome(
        files_answered=True,
        notices=alerts(ctx.session, ctx.settings, ctx.now),
        reply=f"Evidence E{evidence.id} is queued for review on {article.title} q:{node.id} "
        f"(suggested tier: {analysis.suggested_tier}).{files}{seen} "
        "You will get a text when a moderator decides. Thank you!",
    )


def _once(media: list[dict]) -> list[dict]:
    """The same file sent twice in one message is one file of the item."""
    seen: set[str] = set()
    once = []
    for item in media:
        sha256 = item.get("sha256")
        if sha256 is None or sha256 not in seen:
            once.append(item)
            seen.update([sha256] if sha256 else [])
    return once


def _files_line(kept: list[dict], refused: list[dict]) -> str:
    """' Kept 1 file (JPEG, 120 KB). Not kept: file 2: it is not …' — or nothing."""
    parts = []
    if kept:
        names = ", ".join(describe_file(m["content_type"], m["size"]) for m in kept)
        parts.append(f" Kept {len(kept)} file{'s' if len(kept) != 1 else ''} ({names}).")
    if refused:
        parts.append(f" Not kept: {_refusals(refused)}.")
    return "".join(parts)


def _refusals(refused: list[dict]) -> str:
    return "; ".join(f"a file {m['reason']}" if len(refused) == 1 else m["reason"] for m in refused)
