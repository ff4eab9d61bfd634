"""Who may moderate (phone numbers and web logins) and when each was last alerted.

Private working state like the message store: never published.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, utcnow


class ModeratorAccount(Base):
    """Moderators added at run time (MODERATOR_NUMBERS from the environment also count)."""

    __tablename__ = "moderators"
    __table_args__ = (CheckConstraint("kind IN ('phone','web')"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModeratorAlert(Base):
    """When each moderator was last told that items wait, to batch those alerts."""

    __tablename__ = "moderator_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    last_sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModeratorSession(Base):
    """One web login, held on the server so that logging out or removal ends it at once.

    The browser's signed cookie carries only a random token; the table keeps its SHA-256, so
    a copy of the table cannot be replayed as cookies. ``password_stamp`` is a digest of the
    account's password hash at login: a new password (``moderators add`` again) ends every
    earlier session, even one from before a remove and re-add.
    """

    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"), index=True)
    password_stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
