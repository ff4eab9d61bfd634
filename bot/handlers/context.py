"""What a handler gets (the context) and what it gives back (the outcome).

Handlers are plain functions ``(command, context) -> Outcome``: they may write to the
session they are given, but never commit, send, or enqueue — the job does that once, after
the whole message has been handled, so a crash leaves either everything or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messaging.models import Contact, InboundMessage
from bot.messaging.outbox import Button, Notice
from ledger.checkpoints import LogKey

NOT_MEDICAL_ADVICE = "Not medical advice."
CATALOGUE_ONLY = (
    "ledgerbot only catalogues evidence: it never gives dosing, protocol or treatment advice. "
    "Please ask a clinician."
)


@dataclass
class Outcome:
    reply: str | None
    notices: list[Notice] = field(default_factory=list)
    # Sent even though the contact has just opted out (the one confirmation carriers expect).
    reply_kind: str = "reply"
    # Moderators reading a whole item get more room than the usual three segments.
    max_segments: int | None = None
    # Quick-reply buttons for the reply (WhatsApp; elsewhere the text says what to type).
    buttons: tuple[Button, ...] = ()
    # Stored files that may be unreferenced once this commits (a rejection's): the job asks
    # the media store to collect them after the commit (bot.media.collect).
    forget_media: tuple[str, ...] = ()
    # The reply already says what became of the message's files (else a note is added that
    # they were not kept).
    files_answered: bool = False


@dataclass
class Context:
    session: Session
    settings: Settings
    contact: Contact
    inbound: InboundMessage
    pseudonym: str
    is_moderator: bool
    now: datetime
    # Keys the digest a rejected paste leaves in the public ledger (never the paste itself);
    # derived from the deployment's secret by ledger.decisions.paste_digest_key.
    paste_key: bytes
    # Signs the checkpoint an approval's receipt names (ledger.checkpoints).
    log_key: LogKey
    # The message's files as fetched and cleaned before the transaction (bot.media.fetch):
    # kept ones (sha256, size, type) and refused ones (why). Empty for most messages.
    media: list[Any] = field(default_factory=list)

    @property
    def public_url(self) -> str:
        return (self.settings.public_url or "http://127.0.0.1:5000").rstrip("/")

    def article_url(self, slug: str) -> str:
        return f"{self.public_url}/a/{slug}"
