"""Conversation memory: "|follow-up" and MORE refer to the contact's last article (30 min)."""

from __future__ import annotations

from datetime import timedelta

from bot.catalogue.answers import relevant_claims
from bot.handlers import ask
from bot.handlers.ask import ANSWERS, answer_buttons
from bot.handlers.context import NOT_MEDICAL_ADVICE, Context, Outcome
from bot.messaging.sms import fit_lines
from bot.parsing import AddEvidence, Ask, FollowUp, More
from ledger.models import QuestionNode

MEMORY = timedelta(minutes=30)
EXAMPLE = '"semax|does it raise BDNF in people?"'
NEVER_ASKED = {
    "more": "MORE shows more on your last question, but you have not asked one yet. "
    f"Send article|question, e.g. {EXAMPLE}",
    "follow_up": "A |follow-up asks about your last article, but you have not asked about one "
    f"yet. Send article|question, e.g. {EXAMPLE}",
}


def _expired(slug: str) -> str:
    return f"Your last question was over 30 minutes ago. Ask again: {slug}|your question"


def last_slug(ctx: Context) -> str | None:
    contact = ctx.contact
    if not contact.last_slug or contact.last_context_at is None:
        return None
    at = contact.last_context_at
    if at.tzinfo is None:  # SQLite returns naive datetimes
        at = at.replace(tzinfo=ctx.now.tzinfo)
    return contact.last_slug if ctx.now - at <= MEMORY else None


def _no_context(ctx: Context, kind: str) -> str:
    """Say what is true: never asked, or asked too long ago."""
    if not ctx.contact.last_slug:
        return NEVER_ASKED[kind]
    return _expired(ctx.contact.last_slug)


def handle_follow_up(command: FollowUp, ctx: Context) -> Outcome:
    slug = last_slug(ctx)
    if slug is None:
        return Outcome(_no_context(ctx, "follow_up"))
    return ask.handle(Ask(slug=slug, question=command.question), ctx)


def handle_more(command: More, ctx: Context) -> Outcome:
    """The next claims for the last question, three at a time."""
    slug = last_slug(ctx)
    if slug is None:
        return Outcome(_no_context(ctx, "more"))
    node = ctx.session.get(QuestionNode, ctx.contact.last_node_id or 0)
    if node is None:  # the last thing was an article, not a question on it
        return Outcome(
            f"MORE continues a question, and your last message asked none. "
            f"Ask one: {slug}|your question"
        )
    offset = ctx.contact.last_offset or 0
    cited = relevant_claims(ctx.session, node.article, node.text, offset=offset, limit=ANSWERS)
    url = ctx.article_url(slug)
    if not cited:
        return Outcome(
            f"No more claims in the ledger match q:{node.id}. Everything on "
            f"{node.article.title}: {url}"
        )
    ctx.contact.last_offset, ctx.contact.last_context_at = offset + len(cited), ctx.now
    lines = [f"More on q:{node.id}:"] + [c.line() for c in cited]
    tail = f"MORE for more, or {url}\n{NOT_MEDICAL_ADVICE}"
    return Outcome(
        fit_lines(lines, tail, ctx.settings.max_segments, keep=2),
        buttons=answer_buttons(node.article.slug, node.id),
    )


def handle_add_evidence(command: AddEvidence, ctx: Context) -> Outcome:
    """The "Add evidence" button: the exact line to send for that question."""
    node = ctx.session.get(QuestionNode, command.node_id)
    if node is None or node.article.slug != command.slug:
        return Outcome(f"There is no question q:{command.node_id} on {command.slug}.")
    return Outcome(
        f"Send your evidence for q:{node.id} as: ingest {command.slug}|q:{node.id}|then paste "
        "the study, link or quote. You can attach a photo or PDF of it too (JPEG, PNG, WebP, "
        "PDF). A moderator reviews it before it enters the ledger."
    )
