"""Quick-reply payloads: the id a tapped WhatsApp button sends back as ``ButtonPayload``.

A tap must do exactly what typing does, so a payload becomes one of the typed grammar's own
commands and reaches the same handler: the same moderator check, the same once-only decision.
We write the payloads into the buttons, but they come back through a public webhook, so
reading one is strict and total: anything that is not exactly a payload we make is None here,
and :func:`bot.parsing.parse_message` reads the Body (the button's title) as typed text.

======================  ===============================  ======================================
payload                 typed equivalent                 command
======================  ===============================  ======================================
``approve:E7``          ``approve E7``                   ``Approve(7, None)`` (suggested tier)
``approve:E7:human``    ``approve E7 human``             ``Approve(7, "human")``
``reject:E7``           ``reject E7`` (reason to type)   ``Reject(7, "")``
``show:E7``             ``show E7``                      ``Show(7)``
``pending[:semax]``     ``pending [semax]``              ``Pending(None | "semax")``
``more``                ``MORE``                         ``More()``
``add:semax:12``        ``ingest semax|q:12|``           ``AddEvidence("semax", 12)``
======================  ===============================  ======================================

A button cannot carry free text, so ``reject:E7`` is a rejection whose reason is still to
come: the review path (``ledger.decisions``) answers it with the exact message to send — and
only after the moderator check, so anyone else still hears only "Not authorized". "Add
evidence" is ``AddEvidence``, a command only a tap makes: its handler answers with the exact
``ingest`` line for that question.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ledger.slugs import normalize_slug

from .commands import TIERS, AddEvidence, Approve, Command, More, Pending, Reject, Show

MAX_PAYLOAD = 256  # Twilio's ButtonPayload as stored (InboundMessage.button_payload)
MAX_TITLE = 20  # WhatsApp cuts quick-reply titles longer than this
ADD_EVIDENCE_TITLE = "Add evidence"
_ID_LIMIT = 2**31  # ids live in signed 32-bit columns
_EVIDENCE = re.compile(r"E([1-9][0-9]{0,9})")
_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_SLUG_MAX = 64
_NODE_LIKE_SLUG = re.compile(r"q?[0-9]+")  # the ingest grammar would read it as a q: number

Payloadable = Approve | Reject | Show | Pending | More


def parse_payload(payload: object) -> Command | None:
    """The command a payload we made stands for, or None (then the Body is read instead)."""
    if not isinstance(payload, str) or not payload.isascii() or len(payload) > MAX_PAYLOAD:
        return None
    match payload.split(":"):
        case ["approve", evidence]:
            return _with_id(evidence, lambda n: Approve(n, None))
        case ["approve", evidence, tier] if tier in TIERS:
            return _with_id(evidence, lambda n: Approve(n, tier))
        case ["reject", evidence]:
            return _with_id(evidence, lambda n: Reject(n, ""))
        case ["show", evidence]:
            return _with_id(evidence, Show)
        case ["pending"]:
            return Pending(None)
        case ["pending", slug] if _is_slug(slug):
            return Pending(slug)
        case ["more"]:
            return More()
        case ["add", slug, node] if _is_slug(slug) and not _NODE_LIKE_SLUG.fullmatch(slug):
            number = _number(node)
            return None if number is None else AddEvidence(slug, number)
    return None


def payload_for(command: Payloadable) -> str:
    """The payload that :func:`parse_payload` reads back as ``command`` (a Reject's reason is
    never carried: a button cannot hold one)."""
    match command:
        case Approve(evidence_id, None):
            return f"approve:E{evidence_id}"
        case Approve(evidence_id, tier):
            return f"approve:E{evidence_id}:{tier}"
        case Reject(evidence_id, _):
            return f"reject:E{evidence_id}"
        case Show(evidence_id):
            return f"show:E{evidence_id}"
        case Pending(None):
            return "pending"
        case Pending(slug):
            return f"pending:{slug}"
        case More():
            return "more"
        case AddEvidence(slug, node_id):
            return f"add:{slug}:{node_id}"
    raise TypeError(f"no button for {command!r}")


def title_for(command: Payloadable) -> str:
    """What the button says, within WhatsApp's 20 characters ("Approve as preclinical" is 22,
    so that one reads "Approve preclinical")."""
    match command:
        case Approve(_, None):
            return "Approve"
        case Approve(_, tier):
            return next(t for t in (f"Approve as {tier}", f"Approve {tier}") if len(t) <= MAX_TITLE)
        case Reject():
            return "Reject"
        case Show():
            return "Show"
        case Pending():
            return "Pending"
        case More():
            return "More"
        case AddEvidence():
            return "Add evidence"
    raise TypeError(f"no button for {command!r}")


def add_evidence_payload(slug: str, node_id: int) -> str:
    """The "Add evidence" button's payload (read back as ``AddEvidence``)."""
    return payload_for(AddEvidence(slug, node_id))


def _number(text: str) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if value < _ID_LIMIT else None


def _with_id(text: str, make: Callable[[int], Command]) -> Command | None:
    match = _EVIDENCE.fullmatch(text)
    number = _number(match.group(1)) if match else None
    return None if number is None else make(number)


def _is_slug(text: str) -> bool:
    return 0 < len(text) <= _SLUG_MAX and normalize_slug(text) == text


__all__ = [
    "ADD_EVIDENCE_TITLE",
    "MAX_PAYLOAD",
    "MAX_TITLE",
    "Payloadable",
    "add_evidence_payload",
    "parse_payload",
    "payload_for",
    "title_for",
]
