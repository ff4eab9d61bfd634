"""Private tables of the media store: which files it holds and which evidence uses them.

Files are named by the SHA-256 of their (cleaned) bytes. A file is public only once an
approved evidence item uses it; the ledger entry commits to its hash, size and type.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
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
