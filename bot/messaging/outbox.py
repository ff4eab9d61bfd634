"""The outbox: every text we mean to send is a row first, sent by its own job after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.messaging.models import OutboundMessage
from bot.messaging.sms import fit, gsm_friendly, segments
from ledger.db import insert_ignoring_conflicts


@dataclass(frozen=True)
class Button:
    """A quick-reply button: WhatsApp shows ``title`` and sends ``id`` back as ButtonPayload."""

    id: str
    title: str


@dataclass(frozen=True)
class Notice:
    """A text to someone other than the sender (a receipt, a moderator alert)."""

    channel: str
    number: str
    body: str
    key: str
    kind: str = "notice"
    buttons: tuple[Button, ...] = ()


def sender_for(settings, channel: str, inbound_to: str | None = None) -> str | None:
    """The configured sender for the channel, else the number the person wrote to."""
    configured = (
        settings.twilio_whatsapp_from if channel == "whatsapp" else settings.twilio_sms_from
    )
    if configured:
        return configured.split(":", 1)[1] if configured.startswith("whatsapp:") else configured
    return inbound_to


def _fitted(body: str, max_segments: int) -> str:
    """The body as written when it fits; GSM-7 look-alikes when that saves it from a cut."""
    if segments(body) > max_segments:
        friendly = gsm_friendly(body)
        if friendly != body:
            body = friendly
    return fit(body, max_segments)


def add(
    session: Session,
    settings,
    notice: Notice,
    *,
    inbound_id: int | None = None,
    inbound_to: str | None = None,
    max_segments: int | None = None,
) -> int | None:
    """Queue one text; the key makes adding the same text twice (a retried job) a no-op."""
    now = datetime.now(UTC)
    return insert_ignoring_conflicts(
        session,
        OutboundMessage.__table__,
        {
            "key": notice.key,
            "kind": notice.kind,
            "inbound_id": inbound_id,
            "channel": notice.channel,
            "to_number": notice.number,
            "from_number": sender_for(settings, notice.channel, inbound_to),
            "body": _fitted(notice.body, max_segments or settings.max_segments),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )


def store(
    session: Session,
    settings,
    notices: list[Notice],
    *,
    inbound_id: int | None = None,
    inbound_to: str | None = None,
    max_segments: int | None = None,
) -> list[int]:
    """Queue several texts; the ids of those newly added, to enqueue once committed."""
    added = (
        add(
            session,
            settings,
            notice,
            inbound_id=inbound_id,
            inbound_to=inbound_to,
            max_segments=max_segments,
        )
        for notice in notices
    )
    return [outbound_id for outbound_id in added if outbound_id is not None]
