"""Conversation memory: "|follow-up" and MORE refer to the contact's last article (30 min)."""

from __future__ import annotations

from datetime import timedelta

from bot.catalogue.answers import relevant_claims
from bot.handlers import ask
from bot.handlers.ask import ANSWERS
from bot.handlers.context import NOT_MEDICAL_ADVICE, Context, Outcome
from bot.messaging.sms import fit_lines, gsm_friendly
from bot.parsing import Ask, FollowUp, More
from ledger.models import QuestionNode

MEMORY = timedelta(minutes=30)
NO_CONTEXT = (
    "I don't know which article you mean: the last one was over 30 minutes ago. "
    'Send slug|question, e.g. "semax|does it raise BDNF in people?"'
)


def last_slug(ctx: Context) -> str | None:
    contact = ctx.contact
    if not contact.last_slug or contact.last_context_at is None:
        return None
    at = contact.last_context_at
    if at.tzinfo is None:  # SQLite returns naive datetimes
        at = at.replace(tzinfo=ctx.now.tzinfo)
    return contact.last_slug if ctx.now - at <= MEMORY else None


def handle_follow_up(command: FollowUp, ctx: Context) -> Outcome:
    slug = last_slug(ctx)
    if slug is None:
        return Outcome(NO_CONTEXT)
    return ask.handle(Ask(slug=slug, question=command.question), ctx)


def handle_more(command: More, ctx: Context) -> Outcome:
    """The next claims for the last question, three at a time."""
    slug = last_slug(ctx)
    node = ctx.session.get(QuestionNode, ctx.contact.last_node_id or 0) if slug else None
    if node is None:
        return Outcome(NO_CONTEXT)
    offset = ctx.contact.last_offset or 0
    cited = relevant_claims(ctx.session, node.article, node.text, offset=offset, limit=ANSWERS)
    url = ctx.article_url(slug)
    if not cited:
        return Outcome(f"That is all the ledger holds on q:{node.id}. Everything: {url}")
    ctx.contact.last_offset, ctx.contact.last_context_at = offset + len(cited), ctx.now
    lines = [f"More on q:{node.id}:"] + [gsm_friendly(c.line()) for c in cited]
    tail = f"MORE for more, or {url}\n{NOT_MEDICAL_ADVICE}"
    return Outcome(fit_lines(lines, tail, ctx.settings.max_segments))
