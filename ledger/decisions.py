"""Moderation decisions: final, once, and on the record.

A decision is taken by a conditional UPDATE (``status = 'pending'`` → decided) inside the
caller's transaction: of two moderators deciding at the same moment, PostgreSQL makes the
second wait for the first's row lock and then finds nothing pending; SQLite's write lock
serializes them outright; ``decisions.evidence_id`` is UNIQUE as the backstop. The loser is
told who decided first.

Approval appends an ``evidence`` entry (the paste, its identifiers, tier, pseudonyms) and a
``moderation`` entry. Everything a person typed goes through ``ledger.redact.publishable``
first, by ``publication``: the same function moderators are shown before they approve, so the
entry holds exactly what they saw.

Rejection appends only a ``moderation`` entry holding ``paste_hmac_sha256``, a keyed digest of
the paste: rejected text never becomes public, yet the decision is on the record and whoever
holds the key can tell which paste it was. Keyed, because a plain SHA-256 of a short paste
gives it away: a phone number inside one was recovered from the public digest by brute force
in seconds. The key (``paste_digest_key``) is derived from the deployment's secret, which the
ledger never sees; callers pass it in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.chain import append, timestamp
from ledger.models import TIERS, Claim, Decision, Evidence, QuestionNode
from ledger.redact import Redacted, publishable, redact_numbers

PASTE_DIGEST_CONTEXT = b"ledgerbot paste digest v1"


def paste_digest_key(secret_key: str) -> bytes:
    """The key for ``paste_hmac_sha256``: HMAC(secret_key, context), so it is never the secret
    itself (which also keys pseudonyms and sessions) and can be rotated by changing the context."""
    return hmac.new(secret_key.encode("utf-8"), PASTE_DIGEST_CONTEXT, hashlib.sha256).digest()


def paste_digest(paste: str, key: bytes) -> str:
    return hmac.new(key, paste.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Publication:
    """What approving an evidence item publishes of what people typed, and how many numbers
    were taken out of it (the paste's are marked in ``paste.pieces``)."""

    paste: Redacted
    identifiers: dict[str, list[str]]
    question: str
    removed: int


def publication(evidence: Evidence) -> Publication:
    """The published form of ``evidence``: shown to moderators and written on approval."""
    paste = publishable(evidence.paste)
    redacted = {
        name: [publishable(str(value)) for value in values]
        for name, values in (evidence.identifiers or {}).items()
    }
    identifiers = {name: [r.text for r in values] for name, values in redacted.items()}
    removed = paste.count + sum(r.count for values in redacted.values() for r in values)
    question = redact_numbers(evidence.question.text)
    return Publication(paste, identifiers, question, removed)


class DecisionError(ValueError):
    """The decision cannot be made (unknown item, bad tier); the message says why."""


@dataclass(frozen=True)
class Decider:
    pseudonym: str
    label: str  # shown to moderators in the audit view: a web name or a masked number
    via: str  # sms, whatsapp, web


@dataclass(frozen=True)
class DecisionResult:
    evidence: Evidence
    decided: bool  # False: someone else had already decided
    decision: Decision

    @property
    def entry_seq(self) -> int:
        return self.decision.evidence_seq or self.decision.moderation_seq


def decide(
    session: Session,
    evidence_id: int,
    *,
    approve: bool,
    moderator: Decider,
    now: datetime,
    tier: str | None = None,
    reason: str | None = None,
    paste_key: bytes | None = None,
) -> DecisionResult:
    """Decide once: the first caller wins and appends; a later one gets the earlier decision.

    A rejection needs ``paste_key`` (``paste_digest_key`` of the deployment's secret)."""
    evidence, tier = _checked(session, evidence_id, approve, tier, reason, paste_key)
    status = "approved" if approve else "rejected"
    won = session.execute(
        update(Evidence)
        .where(Evidence.id == evidence_id, Evidence.status == "pending")
        .values(
            status=status,
            tier=tier if approve else None,
            decision_reason=reason,
            decided_by=moderator.pseudonym,
            decided_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(evidence)
    if not won:
        earlier = session.scalar(select(Decision).where(Decision.evidence_id == evidence_id))
        return DecisionResult(evidence, False, earlier)

    evidence_seq = _publish(session, evidence, tier, moderator, now) if approve else None
    record = _record(evidence, evidence_seq, tier, reason, moderator, now, paste_key)
    moderation = append(session, "moderation", evidence.article.slug, record, now=now)
    decision = Decision(
        evidence_id=evidence.id,
        outcome=status,
        tier=tier if approve else None,
        reason=reason,
        moderator=moderator.pseudonym,
        moderator_label=moderator.label,
        via=moderator.via,
        decided_at=now,
        evidence_seq=evidence_seq,
        moderation_seq=moderation.seq,
    )
    session.add(decision)
    session.flush()
    return DecisionResult(evidence, True, decision)


def _checked(
    session: Session,
    evidence_id: int,
    approve: bool,
    tier: str | None,
    reason: str | None,
    paste_key: bytes | None,
) -> tuple[Evidence, str | None]:
    """The item and the tier it would get, or DecisionError saying what the moderator must add."""
    if not approve and not paste_key:
        raise ValueError("a rejection needs the deployment's paste digest key")
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise DecisionError(f"There is no evidence item E{evidence_id}.")
    if approve:
        tier = tier or evidence.suggested_tier
        if tier not in TIERS:
            raise DecisionError(
                f"Choose a tier for E{evidence_id}: human, preclinical or anecdotal."
            )
    elif not (reason or "").strip() and evidence.status == "pending":
        # Decided already: no reason is needed to be told so (decide returns that decision).
        raise DecisionError(f"Say why E{evidence_id} is rejected: reject E{evidence_id} <reason>.")
    return evidence, tier


def _record(
    evidence: Evidence,
    evidence_seq: int | None,
    tier: str | None,
    reason: str | None,
    moderator: Decider,
    now: datetime,
    paste_key: bytes | None,
) -> dict:
    """The ``moderation`` entry: the decision on the record, never the rejected text itself."""
    record: dict = {"evidence_id": evidence.id}
    if evidence_seq is not None:
        record.update(decision="approved", tier=tier, evidence_seq=evidence_seq)
    else:
        record.update(
            decision="rejected",
            paste_hmac_sha256=paste_digest(evidence.paste, paste_key),
            reason=redact_numbers(reason or ""),
        )
    record.update(moderator=moderator.pseudonym, decided_at=timestamp(now))
    return record


def _media(evidence: Evidence) -> dict:
    """The files the entry commits to — hash, size and type of each kept (cleaned) file, as
    served at /media/<sha256> — or nothing, so entries without files keep their old form."""
    files = [
        {"sha256": m["sha256"], "size": m["size"], "type": m["content_type"]}
        for m in evidence.media or []
        if isinstance(m, dict) and m.get("status") == "kept"
    ]
    return {"media": files} if files else {}


def _publish(
    session: Session, evidence: Evidence, tier: str, moderator: Decider, now: datetime
) -> int:
    """The approved paste becomes an ``evidence`` entry and a claim; its seq."""
    article = evidence.article
    node = session.get(QuestionNode, evidence.question_id)
    shown = publication(evidence)
    entry = append(
        session,
        "evidence",
        article.slug,
        {
            "evidence_id": evidence.id,
            "node_id": node.id,
            "question": shown.question,
            "paste": shown.paste.text,
            "identifiers": shown.identifiers,
            "tier": tier,
            "source_kind": evidence.source_kind,
            **_media(evidence),
            "contributor": evidence.contributor,
            "moderator": moderator.pseudonym,
            "decided_at": timestamp(now),
        },
        now=now,
    )
    evidence.ledger_seq = entry.seq
    node.status = "answered"
    session.add(
        Claim(
            article_id=article.id,
            question_id=node.id,
            tier=tier,
            text=shown.paste.text,
            ledger_seq=entry.seq,
        )
    )
    return entry.seq
