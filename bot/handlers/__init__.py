"""The one table from command type to handler; adding a command means one line here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.handlers import (
    article_info,
    ask,
    conversation,
    help,
    ingest,
    moderation,
    opt_out,
    unknown,
)
from bot.handlers.context import Context, Outcome
from bot.parsing import (
    AddEvidence,
    Approve,
    ArticleInfo,
    Ask,
    Command,
    FollowUp,
    Help,
    Ingest,
    More,
    Pending,
    Reject,
    Show,
    Start,
    Stop,
    Unknown,
)

Handler = Callable[[Any, Context], Outcome]

HANDLERS: dict[type, Handler] = {
    Ask: ask.handle,
    ArticleInfo: article_info.handle,
    Ingest: ingest.handle,
    FollowUp: conversation.handle_follow_up,
    More: conversation.handle_more,
    AddEvidence: conversation.handle_add_evidence,
    Help: help.handle,
    Stop: opt_out.handle_stop,
    Start: opt_out.handle_start,
    Approve: moderation.handle,
    Reject: moderation.handle,
    Pending: moderation.handle,
    Show: moderation.handle,
    Unknown: unknown.handle,
}


def dispatch(command: Command, ctx: Context) -> Outcome:
    return HANDLERS[type(command)](command, ctx)
