"""Conversation memory: "|follow-up" and MORE refer to the contact's last article (30 min)."""

from __future__ import annotations

from datetime import timedelta

from bot.handlers import ask
from bot.handlers.context import Context, Outcome
from bot.parsing import Ask, FollowUp, More

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
    slug = last_slug(ctx)
    if slug is None:
        return Outcome(NO_CONTEXT)
    return Outcome(f"Everything the ledger holds on {slug}: {ctx.article_url(slug)}")
