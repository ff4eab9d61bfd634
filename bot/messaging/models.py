"""Private working state of the messaging side: contacts, inbound and outbound messages.

These tables hold phone numbers (we must be able to reply) and are never published; the
public ledger refers to people only by pseudonym.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, utcnow

CHANNELS = ("sms", "whatsapp")


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(32))
    pseudonym: Mapped[str] = mapped_column(String(32), index=True)
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Conversation memory: what "more", "|follow-up" and "ingest q:12|…" refer to.
    last_slug: Mapped[str | None] = mapped_column(String(64))
    last_node_id: Mapped[int | None] = mapped_column(Integer)
    last_context_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_offset: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def of_number(number: str):
    """A person's contacts on every channel, by the (channel, number) unique index: naming
    each channel lets the index serve a lookup by number alone, which SQLite otherwise answers
    by scanning the table (4 ms a reply at 100,000 contacts, in the growth benchmark)."""
    return and_(Contact.channel.in_(CHANNELS), Contact.number == number)


class InboundMessage(Base):
    """Stored and committed before it is queued, so a lost job can always be redone."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_token: Mapped[str | None] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[Any]] = mapped_column(default=list)
    # A WhatsApp quick-reply tap: the button's id (e.g. "approve:E7:human"); Body is its title.
    button_payload: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="received")
    attempts: Mapped[int] = mapped_column(default=0)
    command: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboundMessage(Base):
    """Every text we send, or decided not to send, with the reason and Twilio's answer."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="reply")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    to_number: Mapped[str] = mapped_column(String(32), index=True)
    from_number: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[str | None] = mapped_column(Text)
    # Quick-reply buttons [{"id", "title"}]: sent as a Content template where one is
    # configured (WhatsApp), shown by the dev phone, and otherwise the body says what to type.
    buttons: Mapped[list[Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class TwilioMedia(Base):
    """Twilio's copy of an inbound file, deleted once our copy is safe (or not wanted).

    ``pending`` until the REST DELETE succeeds (or Twilio says it is gone); failed attempts are
    retried and counted, and ``ledgerbot doctor`` warns about rows left pending."""

    __tablename__ = "twilio_media"
    __table_args__ = (
        CheckConstraint("status IN ('pending','deleted')"),
        Index("ix_twilio_media_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    url: Mapped[str] = mapped_column(String(512), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
