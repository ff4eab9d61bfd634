"""Pure message grammar: no I/O, so every handler and test can rely on the same parse."""

from .buttons import add_evidence_payload, parse_payload, payload_for, title_for
from .commands import (
    MAX_PASTE,
    MAX_QUESTION,
    TIERS,
    UNKNOWN_HINTS,
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
    UnknownReason,
)
from .grammar import canonical, normalize_slug, parse


def parse_message(
    body: str, button_payload: str | None = None, *, has_media: bool = False
) -> Command:
    """What an inbound message asks for: a tapped button's payload when it is one we make (the
    body is then only the button's title), else the typed text. Never raises."""
    command = parse_payload(button_payload) if button_payload else None
    return command if command is not None else parse(body, has_media=has_media)


__all__ = [
    "MAX_PASTE",
    "MAX_QUESTION",
    "TIERS",
    "UNKNOWN_HINTS",
    "AddEvidence",
    "Approve",
    "ArticleInfo",
    "Ask",
    "Command",
    "FollowUp",
    "Help",
    "Ingest",
    "More",
    "Pending",
    "Reject",
    "Show",
    "Start",
    "Stop",
    "Unknown",
    "UnknownReason",
    "add_evidence_payload",
    "canonical",
    "normalize_slug",
    "parse",
    "parse_message",
    "parse_payload",
    "payload_for",
    "title_for",
]
