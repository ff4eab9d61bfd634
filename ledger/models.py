"""Typed models of the evidence ledger.

``LedgerEntry`` is the public, append-only record; every other table here is a projection of
it kept for fast queries (articles, sources, claims, question nodes) or the private working
state of moderation (evidence waiting for a decision). Nothing in these tables holds a phone
number: people appear only as pseudonyms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ledger.vocabulary import SOURCE_KINDS, TIERS  # noqa: F401  (re-exported)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    limits: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    sources: Mapped[list[Source]] = relationship(back_populates="article")
    claims: Mapped[list[Claim]] = relationship(back_populates="article")


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("article_id", "sid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    sid: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    platform: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text)
    ledger_seq: Mapped[int | None] = mapped_column(Integer)

    article: Mapped[Article] = relationship(back_populates="sources")


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (CheckConstraint("tier IN ('human','preclinical','anecdotal')"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("question_nodes.id"))
    tier: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    ledger_seq: Mapped[int | None] = mapped_column(Integer)

    article: Mapped[Article] = relationship(back_populates="claims")
    source: Mapped[Source | None] = relationship()


class QuestionNode(Base):
    __tablename__ = "question_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    asker: Mapped[str] = mapped_column(String(32))
    # Private: who to tell when evidence arrives. Never published (the ledger has the pseudonym).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ledger_seq: Mapped[int | None] = mapped_column(Integer)

    article: Mapped[Article] = relationship()


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')"),
        Index("ix_evidence_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question_nodes.id"), index=True)
    paste: Mapped[str] = mapped_column(Text)
    contributor: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    tier: Mapped[str | None] = mapped_column(String(16))
    suggested_tier: Mapped[str | None] = mapped_column(String(16))
    suggestion_reason: Mapped[str] = mapped_column(Text, default="")
    source_kind: Mapped[str] = mapped_column(String(16), default="other")
    identifiers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    media: Mapped[list[Any]] = mapped_column(default=list)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ledger_seq: Mapped[int | None] = mapped_column(Integer)

    article: Mapped[Article] = relationship()
    question: Mapped[QuestionNode] = relationship()


class Decision(Base):
    """The audit trail of moderation: one row per evidence item, ever (UNIQUE is the backstop)."""

    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint("outcome IN ('approved','rejected')"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    moderator: Mapped[str] = mapped_column(String(32))  # pseudonym, as in the ledger
    moderator_label: Mapped[str] = mapped_column(String(64))  # web name or masked number
    via: Mapped[str] = mapped_column(String(16))  # sms, whatsapp, web
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    evidence_seq: Mapped[int | None] = mapped_column(Integer)
    moderation_seq: Mapped[int] = mapped_column(Integer)

    evidence: Mapped[Evidence] = relationship()


class LedgerEntry(Base):
    """One link of the public chain. Stored exactly as hashed; the database refuses changes."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    slug: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerHead(Base):
    """A single row naming the chain's tip; appenders lock it to take turns."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # The Merkle tree's right edge at ``seq`` (``ledger.tlog.merkle.Frontier``, one 32-byte
    # hash per set bit of seq): appenders extend the tree from it without reading the tree.
    tree: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class TreeNode(Base):
    """Every complete subtree of the RFC 9162 tree over the entries (leaf n is entry n + 1).

    Written in the append's transaction and never changed (the database refuses), so a proof
    or a tile is a primary-key lookup. Level 0 holds leaf hashes; a tile at tile-level L is
    the level-8L nodes.
    """

    __tablename__ = "ledger_tree"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's own form

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class SignedCheckpoint(Base):
    """A C2SP checkpoint the log signed. One per tree size, forever: the primary key makes two
    different roots for one size impossible, and the database refuses changes."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the signed note, verbatim
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Cosignature(Base):
    """A witness's cosignature on one of our checkpoints (served with it on /tlog/checkpoint)."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (UniqueConstraint("size", "witness"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(ForeignKey("ledger_checkpoints.size"), index=True)
    witness: Mapped[str] = mapped_column(String(300))  # the witness's verifier key
    line: Mapped[str] = mapped_column(Text)  # the signature line, verbatim
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
