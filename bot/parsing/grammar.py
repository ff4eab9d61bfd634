"""Message grammar: one inbound SMS/WhatsApp body becomes exactly one Command.

parse() sits directly behind a public webhook, so it is total: anything a phone, a carrier or an
attacker can put in a body becomes a Command (often Unknown with a hint), never an exception.
canonical() is its inverse so that tests, logs and moderators can state a command as plain text.
"""

from __future__ import annotations

import re
import unicodedata

from ledger.slugs import clean as _clean
from ledger.slugs import normalize_slug

from .commands import (
    MAX_PASTE,
    MAX_QUESTION,
    TIERS,
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

R = UnknownReason

_LIMIT = MAX_PASTE + 200
_SLUG_MAX = 64
_ID_LIMIT = 2**31  # ids live in signed 32-bit columns
_LOG_TEXT = 200

# Exactly the characters whose NFKC form is "|"; lets us cut the raw paste at the same pipe.
_PIPES = frozenset("|\uff5c")

_KEYWORDS: dict[str, Command] = {
    **dict.fromkeys(
        ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"), Stop()
    ),
    **dict.fromkeys(("start", "yes", "unstop"), Start()),
    **dict.fromkeys(("help", "info"), Help()),
    "more": More(),
}
_MODERATOR_VERBS = ("approve", "reject", "pending", "show")
# A bare slug equal to one of these would parse as something else, so canonical() adds a pipe.
_RESERVED = frozenset(_KEYWORDS) | frozenset(_MODERATOR_VERBS) | {"ingest"}

_TRAILING_PUNCT = re.compile(r"[\s.!?]+\Z")
_NODE = re.compile(r"(?:[qQ]\s*:?\s*|#\s*)?([0-9]+)")
_EVIDENCE = re.compile(r"(?:[eE]|#)?([0-9]+)")
_NODE_LIKE_SLUG = re.compile(r"q?[0-9]+")
_BARE_SLUG = re.compile(r"[\w\s.\-]+")


def _slug(text: str) -> str | None:
    slug = normalize_slug(text)
    return slug if 0 < len(slug) <= _SLUG_MAX else None


def _positive_id(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.fullmatch(text.strip())
    if match is None:
        return None
    digits = match.group(1).lstrip("0")
    # Checking the length first keeps int() away from its 4300-digit DoS guard.
    if not 0 < len(digits) <= 10:
        return None
    value = int(digits)
    return value if value < _ID_LIMIT else None


def _is_word(word: str, expected: str | tuple[str, ...]) -> bool:
    # ASCII-only so that Unicode case folding tricks cannot smuggle in a command word.
    if isinstance(expected, str):
        expected = (expected,)
    return word.isascii() and word.lower() in expected


def parse(text: str, *, has_media: bool = False) -> Command:
    """Classify one message body; never raises, whatever the input.

    ``has_media``: files came with it, so ``ingest slug|q:12`` with no text is a paste (the
    files are the evidence)."""
    raw = _clean(text).strip() if isinstance(text, str) else ""
    norm = unicodedata.normalize("NFKC", raw).strip()
    if not norm:
        return Unknown(R.EMPTY, "")
    words = norm.split(None, 1)
    if len(words) == 1 and _is_word(_TRAILING_PUNCT.sub("", norm), "ingest"):
        return Unknown(R.INGEST_USAGE, norm[:_LOG_TEXT])
    if len(words) == 2 and _is_word(words[0], "ingest"):
        # The paste is evidence and must be stored as sent, so its length is judged on raw text.
        result, size = _ingest(raw, words[1], has_media), len(raw)
    else:
        result, size = _dispatch(norm, words), len(norm)
    specific = result in (R.PASTE_TOO_LONG, R.QUESTION_TOO_LONG)
    if size > _LIMIT and not specific:
        result = R.TOO_LONG
    if isinstance(result, UnknownReason):
        return Unknown(result, norm[:_LOG_TEXT])
    return result


def _ingest(raw: str, rest: str, has_media: bool = False) -> Command | UnknownReason:
    head, pipe, tail = rest.partition("|")
    if _NODE.fullmatch(head.strip()):
        slug, node_part, pipes_before_paste = None, head, 1
    elif not pipe:
        return R.BAD_NODE_ID
    else:
        slug = _slug(head)
        # A slug like "12" would read back as a node id, so it could never round-trip.
        if slug is None or _NODE_LIKE_SLUG.fullmatch(slug):
            return R.BAD_SLUG
        node_part, pipe, _ = tail.partition("|")
        pipes_before_paste = 2
    node_id = _positive_id(_NODE, node_part)
    if node_id is None:
        return R.BAD_NODE_ID
    paste = _after_pipes(raw, pipes_before_paste).strip() if pipe else ""
    if not paste and not has_media:
        return R.EMPTY_PASTE
    if len(paste) > MAX_PASTE:
        return R.PASTE_TOO_LONG
    return Ingest(slug, node_id, paste)


def _after_pipes(raw: str, count: int) -> str:
    # NFKC would rewrite "m²" as "m2" inside a quoted source, so the paste is cut from raw text.
    for index, char in enumerate(raw):
        if char in _PIPES:
            count -= 1
            if count == 0:
                return raw[index + 1 :]
    return ""


def _dispatch(norm: str, words: list[str]) -> Command | UnknownReason:
    if "|" in norm:
        return _follow_up(norm[1:]) if norm.startswith("|") else _ask(norm)
    if len(norm) <= 32:
        keyword = _TRAILING_PUNCT.sub("", norm)
        if keyword.isascii() and keyword.lower() in _KEYWORDS:
            return _KEYWORDS[keyword.lower()]
    if _is_word(words[0], _MODERATOR_VERBS):
        return _moderator(words[0].lower(), words[1] if len(words) == 2 else "")
    if len(norm) <= _SLUG_MAX and len(norm.split()) <= 4 and _BARE_SLUG.fullmatch(norm):
        slug = _slug(norm)
        return ArticleInfo(slug) if slug else R.BAD_SLUG
    return R.NO_PIPE


def _follow_up(question: str) -> Command | UnknownReason:
    question = question.strip()
    if not _has_words(question):
        return R.EMPTY_QUESTION
    if len(question) > MAX_QUESTION:
        return R.QUESTION_TOO_LONG
    return FollowUp(question)


def _ask(norm: str) -> Command | UnknownReason:
    head, _, question = norm.partition("|")
    slug = _slug(head)
    if slug is None:
        return R.BAD_SLUG
    question = question.strip()
    # "semax|?" is how people ask "what is this article?", not a question about it.
    if not question.replace("?", "").strip():
        return ArticleInfo(slug)
    # "semax||" or "semax|..." is no question either: saved, it would be a public node "|".
    if not _has_words(question):
        return R.EMPTY_QUESTION
    if len(question) > MAX_QUESTION:
        return R.QUESTION_TOO_LONG
    return Ask(slug, question)


def _has_words(text: str) -> bool:
    """A question needs at least one letter or digit."""
    return any(ch.isalnum() for ch in text)


def _moderator(verb: str, rest: str) -> Command | UnknownReason:
    if verb == "pending":
        if not rest:
            return Pending(None)
        slug = _slug(rest)
        return Pending(slug) if slug else R.BAD_SLUG
    if verb == "show":
        evidence_id = _positive_id(_EVIDENCE, rest)
        return R.BAD_EVIDENCE_ID if evidence_id is None else Show(evidence_id)
    parts = rest.split(None, 1)
    evidence_id = _positive_id(_EVIDENCE, parts[0]) if parts else None
    if evidence_id is None:
        return R.BAD_EVIDENCE_ID
    remainder = parts[1] if len(parts) == 2 else ""
    if verb == "approve":
        if not remainder:
            return Approve(evidence_id, None)
        tier = remainder.rstrip(".!").lower()
        return Approve(evidence_id, tier) if tier in TIERS else R.BAD_TIER
    if not remainder:
        return R.MISSING_REASON
    # Reasons are shown to moderators and stored with the decision; cap them like questions.
    if len(remainder) > MAX_QUESTION:
        return R.TOO_LONG
    return Reject(evidence_id, remainder)


def canonical(cmd: Command) -> str:
    """Render a command as the shortest message that parses back to the same command."""
    match cmd:
        case Ask(slug, question):
            return f"{slug}|{question}"
        case ArticleInfo(slug):
            return f"{slug}|" if slug in _RESERVED else slug
        case Ingest(None, node_id, paste):
            return f"ingest q:{node_id}|{paste}"
        case Ingest(slug, node_id, paste):
            return f"ingest {slug}|q:{node_id}|{paste}"
        case Stop():
            return "STOP"
        case Start():
            return "START"
        case Help():
            return "HELP"
        case More():
            return "MORE"
        case FollowUp(question):
            return f"|{question}"
        case Approve(evidence_id, None):
            return f"approve E{evidence_id}"
        case Approve(evidence_id, tier):
            return f"approve E{evidence_id} {tier}"
        case Reject(evidence_id, reason):
            return f"reject E{evidence_id} {reason}"
        case Pending(None):
            return "pending"
        case Pending(slug):
            return f"pending {slug}"
        case Show(evidence_id):
            return f"show E{evidence_id}"
        case AddEvidence(slug, node_id):
            return f"ingest {slug}|q:{node_id}|"
        case Unknown(_, text):
            return text
    raise TypeError(f"not a command: {cmd!r}")
