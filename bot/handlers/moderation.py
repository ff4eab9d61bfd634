"""Moderator commands by text. Authorization is checked here, before anything is read."""

from __future__ import annotations

from bot.handlers.context import Context, Outcome
from bot.parsing import Approve, Pending, Reject, Show

NOT_AUTHORIZED = "Not authorized: moderator commands only work from a moderator's number."


def handle(command: Approve | Reject | Pending | Show, ctx: Context) -> Outcome:
    if not ctx.is_moderator:
        return Outcome(NOT_AUTHORIZED)
    return Outcome("Moderation by text is not available yet; use the web queue.")
