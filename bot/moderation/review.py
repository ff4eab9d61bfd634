"""The one review path: a decision by text, WhatsApp or the web queue goes through here.

It takes the session, the settings and the moderator, makes the decision (once, on the
record: ``ledger.decisions``) and returns the notices to send — the contributor's receipt and
the asker's "evidence arrived". It never commits and never enqueues: the caller stores the
notices and queues them after its own commit, as the inbound job does for every reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.messaging.addresses import mask
from bot.messaging.outbox import Notice
from bot.moderation.notices import receipts
from ledger.checkpoints import KeyMismatch, LogKey, sign_head
from ledger.decisions import Decider, DecisionError, DecisionResult, decide
from ledger.pseudonym import pseudonym

__all__ = ["DecisionError", "Review", "phone_decider", "review", "web_decider"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    result: DecisionResult
    notices: list[Notice] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.result.decided


def phone_decider(handle: str, number: str, channel: str) -> Decider:
    """A moderator texting in: known by pseudonym, shown to other moderators masked."""
    return Decider(handle, mask(number), channel)


def web_decider(secret_key: str, username: str) -> Decider:
    return Decider(pseudonym(f"web:{username}", secret_key), username, "web")


def review(
    session: Session,
    evidence_id: int,
    *,
    moderator: Decider,
    approve: bool,
    now: datetime,
    public_url: str,
    paste_key: bytes,
    log_key: LogKey,
    tier: str | None = None,
    reason: str | None = None,
) -> Review:
    """Decide ``evidence_id``; raises DecisionError with a message the moderator can act on.

    ``paste_key`` keys the digest a rejection records (``ledger.decisions.paste_digest_key``
    of the deployment's secret): SMS handlers have it in their context, the web in services;
    ``log_key`` signs the checkpoint the receipt names."""
    result = decide(
        session,
        evidence_id,
        approve=approve,
        moderator=moderator,
        now=now,
        tier=tier if approve else None,
        reason=None if approve else reason,
        paste_key=paste_key,
    )
    if not result.decided:
        return Review(result, [])
    # Signed here, in the decision's transaction, so the receipt names a checkpoint that
    # includes the entry the moment it is texted (the checkpointer would, within a second).
    try:
        checkpoint = sign_head(session, log_key, now)
    except KeyMismatch:  # misconfigured: decide, but never sign for the log under another key
        log.exception("approval not checkpointed; the receipt names no tree (run doctor)")
        checkpoint = None
    return Review(result, receipts(session, result, public_url, checkpoint))
