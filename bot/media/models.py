"""Private tables of the media store: which files it holds, which evidence uses them, and which
of Twilio's copies still have to be deleted.

Files are named by the SHA-256 of their (cleaned) bytes. A file is public only once an
approved evidence item uses it; the ledger entry commits to its hash, size and type.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, utcnow


class MediaFile(Base):
    """One stored file (cleaned bytes), whoever sent it and however often."""

    __tablename__ = "media_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvidenceMedia(Base):
    """The files of an evidence item, in the order they arrived."""

    __tablename__ = "evidence_media"

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("media_files.sha256"), index=True)


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
