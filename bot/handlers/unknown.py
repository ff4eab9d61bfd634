"""Anything the grammar could not read: say exactly what to send instead."""

from __future__ import annotations

from bot.handlers.context import Context, Outcome
from bot.parsing import UNKNOWN_HINTS, Unknown


def handle(command: Unknown, ctx: Context) -> Outcome:
    return Outcome(UNKNOWN_HINTS[command.reason] + " Send HELP for more.")
