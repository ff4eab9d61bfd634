"""Pure message grammar: no I/O, so every handler and test can rely on the same parse."""

from .commands import (
    MAX_PASTE,
    MAX_QUESTION,
    TIERS,
    UNKNOWN_HINTS,
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


def parse_message(body: str, button_payload: str | None = None, *, has_media: bool = False):
    """What an inbound message asks for: a tapped button's payload when there is one (the body
    is then only the button's title), else the typed text."""
    return parse(body, has_media=has_media)


__all__ = [
    "MAX_PASTE",
    "MAX_QUESTION",
    "TIERS",
    "UNKNOWN_HINTS",
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
    "canonical",
    "normalize_slug",
    "parse",
    "parse_message",
]
