"""Value objects produced by the message grammar.

Commands are frozen so handlers can pattern-match on them and tests can compare them with ``==``;
their fields are already normalised, so no handler has to re-validate user text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, auto
from typing import TypeAlias

from ledger.vocabulary import TIERS  # noqa: F401  (re-exported)

# SMS segments make long questions expensive and hard to answer well in one reply.
MAX_QUESTION = 500
# Twilio rejects bodies over 1600 characters, so a longer paste cannot have arrived intact.
MAX_PASTE = 1600


class UnknownReason(StrEnum):
    """Why a message was not understood; each reason has a reply hint so users can self-correct."""

    EMPTY = auto()
    NO_PIPE = auto()
    BAD_SLUG = auto()
    BAD_NODE_ID = auto()
    EMPTY_QUESTION = auto()
    EMPTY_PASTE = auto()
    QUESTION_TOO_LONG = auto()
    PASTE_TOO_LONG = auto()
    BAD_EVIDENCE_ID = auto()
    BAD_TIER = auto()
    MISSING_REASON = auto()
    TOO_LONG = auto()
    INGEST_USAGE = auto()

    @property
    def hint(self) -> str:
        return UNKNOWN_HINTS[self]


# Hints are sent back as a single SMS, so they stay under 160 GSM-7 characters and always show
# the exact message to send instead rather than describing the grammar.
UNKNOWN_HINTS: dict[UnknownReason, str] = {
    UnknownReason.EMPTY: "Send an article and a question, e.g. "
    '"semax|does it raise BDNF in people?" or send HELP.',
    UnknownReason.NO_PIPE: "To ask, send the article and your question separated by |, e.g. "
    '"semax|does it raise BDNF in people?"',
    UnknownReason.BAD_SLUG: "Start with the article name in letters, digits or -, e.g. "
    '"bpc-157|what do human studies show?"',
    UnknownReason.BAD_NODE_ID: 'Give the question number, e.g. "ingest semax|q:12|<paste>" or '
    '"ingest q:12|<paste>".',
    UnknownReason.EMPTY_QUESTION: 'Type your question after the |, e.g. "semax|is there human '
    'data?" or "|and in older adults?"',
    UnknownReason.INGEST_USAGE: "To add evidence, ask first (semax|your question), then send "
    '"ingest semax|q:12|<paste or link>" with the q: number from the reply.',
    UnknownReason.EMPTY_PASTE: "Paste the source after the question number, e.g. "
    '"ingest semax|q:12|<abstract or link>". A photo or PDF can be attached to it too.',
    UnknownReason.QUESTION_TOO_LONG: f"Questions can be up to {MAX_QUESTION} characters. "
    "Please shorten yours and send it again.",
    UnknownReason.PASTE_TOO_LONG: f"Pastes can be up to {MAX_PASTE} characters. "
    "Send the key passage or just the link.",
    UnknownReason.BAD_EVIDENCE_ID: 'Give the evidence number, e.g. "approve E7", '
    '"reject E7 <reason>" or "show E7".',
    UnknownReason.BAD_TIER: "Tier must be human, preclinical or anecdotal, e.g. "
    '"approve E7 human".',
    UnknownReason.MISSING_REASON: 'Say why you reject it, e.g. "reject E7 duplicate of E3".',
    UnknownReason.TOO_LONG: f"That message is too long. Keep questions under {MAX_QUESTION} "
    f"and pastes under {MAX_PASTE} characters.",
}


@dataclass(frozen=True, slots=True)
class Ask:
    slug: str
    question: str


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    slug: str


@dataclass(frozen=True, slots=True)
class Ingest:
    slug: str | None
    node_id: int
    paste: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class More:
    pass


@dataclass(frozen=True, slots=True)
class FollowUp:
    question: str


@dataclass(frozen=True, slots=True)
class Approve:
    evidence_id: int
    tier: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    evidence_id: int
    # Typed rejections always have one; "" only from a Reject button (bot.parsing.buttons),
    # which the review path answers with the message to type, as for any missing reason.
    reason: str


@dataclass(frozen=True, slots=True)
class Pending:
    slug: str | None


@dataclass(frozen=True, slots=True)
class Show:
    evidence_id: int


@dataclass(frozen=True, slots=True)
class AddEvidence:
    """The "Add evidence" button under an answer: how to send evidence for that question.
    Only a tap makes it (``bot.parsing.buttons``); typed, the same wish is an ``ingest``."""

    slug: str
    node_id: int


@dataclass(frozen=True, slots=True)
class Unknown:
    reason: UnknownReason
    # Normalised input, truncated, kept only so logs show what the user actually sent.
    text: str


Command: TypeAlias = (
    Ask
    | ArticleInfo
    | Ingest
    | Stop
    | Start
    | Help
    | More
    | FollowUp
    | Approve
    | Reject
    | Pending
    | Show
    | AddEvidence
    | Unknown
)
