"""Anything the grammar could not read: say exactly what to send instead."""

from __future__ import annotations

from bot.handlers.context import Context, Outcome
from bot.parsing import UNKNOWN_HINTS, Unknown, UnknownReason

NOT_KEPT_NOTE = "(Your file was not kept: files are kept only with ingest slug|q:ID.)"
FILES_NOT_KEPT = (
    "Files are kept only as evidence: send the picture or PDF again with "
    "ingest slug|q:ID (the question it answers), e.g. ingest semax|q:12|label of the vial. "
    "This one was not kept."
)


def handle(command: Unknown, ctx: Context) -> Outcome:
    if ctx.inbound.media and command.reason is UnknownReason.EMPTY:  # a photo and no words
        return Outcome(FILES_NOT_KEPT, files_answered=True)
    return Outcome(UNKNOWN_HINTS[command.reason] + " Send HELP for more.")
