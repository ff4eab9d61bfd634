"""HELP: how to use the bot, with examples that work as typed."""

from __future__ import annotations

from bot.handlers.context import NOT_MEDICAL_ADVICE, Context, Outcome
from bot.parsing import Help

HELP_TEXT = (
    "ledgerbot catalogues evidence on compounds.\n"
    "Ask: semax|does it raise BDNF in people?\n"
    "Follow up: |and in healthy people?  More results: MORE\n"
    "See an article: semax\n"
    "Add evidence: ingest semax|q:12|<paste or link>\n"
    "Stop texts: STOP. " + NOT_MEDICAL_ADVICE
)


MODERATOR_HELP = (
    "Moderator: pending [article] lists what waits; show E7 reads one; "
    "approve E7 [human|preclinical|anecdotal]; reject E7 <reason>."
)


def handle(command: Help, ctx: Context) -> Outcome:
    if ctx.is_moderator:
        return Outcome(f"{HELP_TEXT}\n{MODERATOR_HELP}")
    return Outcome(HELP_TEXT)
