"""The outbox: every text we mean to send is a row first, sent by its own job after commit.

Quick-reply buttons are decided here, once, for every sender of texts: a WhatsApp row keeps
its buttons, and where the matching twilio/quick-reply template is configured it is sent as
that template (``content_sid`` and ``content_variables``). SMS has no buttons, so an SMS row
never gets any, and without the templates WhatsApp gets the text alone; every text that has
buttons says in words what to type instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.messaging.models import OutboundMessage
from bot.messaging.sms import fit, gsm_friendly, segments
from bot.parsing.buttons import MAX_TITLE
from ledger.db import insert_ignoring_conflicts

QUICK_REPLY_BODY = 1024  # twilio/quick-reply's body limit; a longer text goes without buttons
MAX_BUTTONS = 3  # what WhatsApp allows in a session message that needs no approval


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


def _template_for(settings, count: int) -> str | None:
    """Each template has a fixed number of buttons: three for review, two for answers."""
    return {
        3: settings.twilio_review_content_sid,
        2: settings.twilio_answer_content_sid,
    }.get(count)


def quick_reply(settings, channel: str, body: str, buttons: tuple[Button, ...]) -> dict:
    """The row's ``buttons`` and, where the template is configured, its ``content_sid`` and
    ``content_variables``; nothing (all three NULL) when the text goes without buttons.

    Buttons only on WhatsApp and only where the body fits a quick-reply (1,024 characters): a
    longer text, a moderator's whole item say, goes as text without them rather than cut
    short. The variables follow the templates in the README: ``{{1}}`` the body, then each
    button's id and title in turn."""
    if channel != "whatsapp" or not 0 < len(buttons) <= MAX_BUTTONS:
        return {}
    if len(body) > QUICK_REPLY_BODY:
        return {}
    stored = [{"id": b.id, "title": b.title[:MAX_TITLE]} for b in buttons]
    template = _template_for(settings, len(stored))
    if not template:
        return {"buttons": stored}
    variables = {"1": body}
    for index, button in enumerate(stored):
        variables[str(2 + 2 * index)] = button["id"]
        variables[str(3 + 2 * index)] = button["title"]
    return {
        "buttons": stored,
        "content_sid": template,
        "content_variables": json.dumps(variables, ensure_ascii=False),
    }


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
    body = _fitted(notice.body, max_segments or settings.max_segments)
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
            "body": body,
            **quick_reply(settings, notice.channel, body, notice.buttons),
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
