"""Moderation decisions: final, once, and on the record.

A decision is taken by a conditional UPDATE (``status = 'pending'`` → decided) inside the
caller's transaction: of two moderators deciding at the same moment, PostgreSQL makes the
second wait for the first's row lock and then finds nothing pending; SQLite's write lock
serializes them outright; ``decisions.evidence_id`` is UNIQUE as the backstop. The loser is
told who decided first.

Approval appends an ``evidence`` entry (the paste, its identifiers, tier, pseudonyms) and a
``moderation`` entry. Rejection appends only a ``moderation`` entry holding the SHA-256 of the
paste: rejected text never becomes public, yet the decision is on the record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.chain import append, timestamp
from ledger.models import TIERS, Claim, Decision, Evidence, QuestionNode
from ledger.redact import redact_numbers


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
) -> DecisionResult:
    """Decide once: the first caller wins and appends; a later one gets the earlier decision."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise DecisionError(f"There is no evidence item E{evidence_id}.")
    if approve:
        tier = tier or evidence.suggested_tier
        if tier not in TIERS:
            raise DecisionError(
                f"Choose a tier for E{evidence_id}: human, preclinical or anecdotal."
            )
    elif not (reason or "").strip():
        raise DecisionError(f"Say why E{evidence_id} is rejected: reject E{evidence_id} <reason>.")

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
    record = _record(evidence, evidence_seq, tier, reason, moderator, now)
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


def _record(
    evidence: Evidence,
    evidence_seq: int | None,
    tier: str | None,
    reason: str | None,
    moderator: Decider,
    now: datetime,
) -> dict:
    """The ``moderation`` entry: the decision on the record, never the rejected text itself."""
    record: dict = {"evidence_id": evidence.id}
    if evidence_seq is not None:
        record.update(decision="approved", tier=tier, evidence_seq=evidence_seq)
    else:
        record.update(
            decision="rejected",
            paste_sha256=hashlib.sha256(evidence.paste.encode("utf-8")).hexdigest(),
            reason=redact_numbers(reason or ""),
        )
    record.update(moderator=moderator.pseudonym, decided_at=timestamp(now))
    return record


def _publish(
    session: Session, evidence: Evidence, tier: str, moderator: Decider, now: datetime
) -> int:
    """The approved paste becomes an ``evidence`` entry and a claim; its seq."""
    article = evidence.article
    node = session.get(QuestionNode, evidence.question_id)
    text = redact_numbers(evidence.paste)
    entry = append(
        session,
        "evidence",
        article.slug,
        {
            "evidence_id": evidence.id,
            "node_id": node.id,
            "question": node.text,
            "paste": text,
            "identifiers": evidence.identifiers,
            "tier": tier,
            "source_kind": evidence.source_kind,
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
            text=text,
            ledger_seq=entry.seq,
        )
    )
    return entry.seq
