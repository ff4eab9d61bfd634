"""What moderation tells people: moderators that items wait, contributors and askers what was
decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.messaging.models import Contact, of_number
from bot.messaging.outbox import Button, Notice
from bot.moderation.accounts import moderator_numbers
from bot.moderation.models import ModeratorAlert
from bot.parsing import TIERS, Approve, Pending, Reject, Show, payload_for, title_for
from ledger.db import insert_ignoring_conflicts
from ledger.decisions import DecisionResult, publication
from ledger.duplicates import already_catalogued, describe
from ledger.models import Evidence, LedgerEntry, QuestionNode

ALERT_INTERVAL = timedelta(minutes=10)
SMS_SEGMENT = 160  # GSM-7 characters in one single-part SMS


def alerts(session: Session, settings, now: datetime) -> list[Notice]:
    """At most one 'items wait' text per moderator per ten minutes, counting what waits.

    Called when evidence arrives and by the sweeper, so items that arrived during a quiet
    period are announced once it ends. The conditional UPDATE keeps concurrent callers from
    both sending.
    """
    waiting, newest = session.execute(
        select(func.count(), func.max(Evidence.created_at)).where(Evidence.status == "pending")
    ).one()
    if not waiting:
        return []
    if newest.tzinfo is None:  # SQLite keeps no zone; everything stored is UTC
        newest = newest.replace(tzinfo=UTC)
    stamp = max(now, newest)
    notices = []
    for number in moderator_numbers(session, settings):
        insert_ignoring_conflicts(
            session,
            ModeratorAlert.__table__,
            {"number": number, "last_sent_at": now - 2 * ALERT_INTERVAL},
        )
        claimed = session.execute(
            update(ModeratorAlert)
            .where(
                ModeratorAlert.number == number,
                ModeratorAlert.last_sent_at <= now - ALERT_INTERVAL,
                ModeratorAlert.last_sent_at < newest,
            )
            .values(last_sent_at=stamp)
        ).rowcount
        if claimed:
            key = f"alert:{number}:{now.isoformat()}"
            notices.append(_alert(session, _channel_of(session, number), number, key, waiting))
    return notices


def _alert(session: Session, channel: str, number: str, key: str, waiting: int) -> Notice:
    """The count and "Send: pending"; on WhatsApp also the oldest item, which its buttons act
    on (SMS has no buttons, so its alert stays as short as it was)."""
    count = f"{waiting} evidence item{'s' if waiting != 1 else ''} wait for review."
    if channel != "whatsapp":
        return Notice(channel, number, f"{count} Send: pending", key, "alert")
    oldest = session.scalars(
        select(Evidence)
        .where(Evidence.status == "pending")
        .order_by(Evidence.created_at, Evidence.id)
        .limit(1)
    ).one()
    body = f"{count} Oldest: {describe_item(oldest)}. Send: pending"
    return Notice(channel, number, body, key, "alert", review_buttons(oldest, Show(oldest.id)))


def describe_item(evidence: Evidence) -> str:
    """One waiting item in a line: id, article, question, its first words, suggested tier (the
    words as approving would publish them: numbers already removed)."""
    words = " ".join(publication(evidence).paste.text.split()[:6])
    kept = [m for m in evidence.media or [] if isinstance(m, dict) and m.get("status") == "kept"]
    # Approving publishes the files too: a one-tap Approve must not hide that there are some.
    types = ", ".join(str(m.get("content_type", "")).rsplit("/", 1)[-1].upper() for m in kept)
    files = f" +{len(kept)} file{'s' if len(kept) != 1 else ''} ({types})" if kept else ""
    return (
        f'E{evidence.id} {evidence.article.slug} q:{evidence.question_id} "{words}"{files} '
        f"({evidence.suggested_tier})"
    )


def review_buttons(evidence: Evidence, third: Show | Pending) -> tuple[Button, ...]:
    """Approve as the suggested tier, Reject (the reason is then asked for) and ``third``:
    the same commands a moderator would type, so a tap takes the same review path."""
    tier = evidence.suggested_tier if evidence.suggested_tier in TIERS else None
    commands = (Approve(evidence.id, tier), Reject(evidence.id, ""), third)
    return tuple(Button(payload_for(c), title_for(c)) for c in commands)


def _channel_of(session: Session, number: str) -> str:
    """Reach moderators where they last wrote from (WhatsApp or SMS)."""
    channel = session.scalar(
        select(Contact.channel)
        .where(of_number(number))
        .order_by(Contact.last_inbound_at.desc().nulls_last())
        .limit(1)
    )
    return channel or "sms"


def approval_receipt(
    evidence_id: int, tier: str, seq: int, digest: str, checkpoint, public_url: str
) -> str:
    """One SMS segment where it fits: what a contributor needs to prove their entry later.

    16 hex digits (64 bits) of the entry's hash and of a signed root that includes it — 12
    digits could be matched by brute force — and a link to the full proof. Anyone holding
    this text can check, with the log's public key, that the ledger still holds the entry.
    Wordier forms first; the first that fits one segment is sent (the last always is).
    """
    link = f"{public_url.rstrip('/')}/r/{seq}"
    tree = f" tree {checkpoint.size} root {checkpoint.root.hex()[:16]}" if checkpoint else ""
    entry = f"entry #{seq} hash {digest[:16]}{',' if tree else ''}{tree}"
    forms = [
        f"E{evidence_id} approved ({tier}): {entry}. Proof: {link} Thank you!",
        f"E{evidence_id} approved ({tier}): {entry}. Proof: {link}",
        f"E{evidence_id} approved: #{seq} hash {digest[:16]}{tree} {link}",
    ]
    return next((f for f in forms if len(f) <= SMS_SEGMENT), forms[-1])


def receipts(
    session: Session, outcome: DecisionResult, public_url: str, checkpoint=None
) -> list[Notice]:
    """The contributor hears the outcome; on approval the asker hears evidence arrived.

    ``checkpoint`` is the signed checkpoint that includes the approved entry (signed in the
    approval's own transaction, ``bot.moderation.review``)."""
    evidence, decision = outcome.evidence, outcome.decision
    notices = []
    contributor = session.get(Contact, evidence.contact_id) if evidence.contact_id else None
    if contributor is not None:
        if decision.outcome == "approved":
            digest = session.scalar(
                select(LedgerEntry.hash).where(LedgerEntry.seq == decision.evidence_seq)
            )
            body = approval_receipt(
                evidence.id, decision.tier, decision.evidence_seq, digest, checkpoint, public_url
            )
            known = already_catalogued(
                session, evidence.article_id, evidence.identifiers, exclude=evidence.id
            )
            if known:  # worth a second segment: the contributor learns it was not new
                body += f" Already in the ledger before: {describe(known)}."
        else:
            body = f"Your evidence E{evidence.id} was not added: {decision.reason}"
        notices.append(
            Notice(
                contributor.channel, contributor.number, body, f"receipt:E{evidence.id}", "receipt"
            )
        )
    if decision.outcome == "approved":
        node = session.get(QuestionNode, evidence.question_id)
        asker = session.get(Contact, node.contact_id) if node.contact_id else None
        if asker is not None and (contributor is None or asker.id != contributor.id):
            slug = evidence.article.slug
            notices.append(
                Notice(
                    asker.channel,
                    asker.number,
                    f"New {decision.tier} evidence arrived on your question q:{node.id} "
                    f'"{node.text[:80]}". Send {slug}|{node.text[:40]} or see the article. '
                    "Not medical advice.",
                    f"arrived:E{evidence.id}:{asker.id}",
                    "receipt",
                )
            )
    return notices
