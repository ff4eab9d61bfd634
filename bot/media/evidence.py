"""Which stored files an evidence item has: rows written in the handler's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.media.clean import describe
from bot.media.models import EvidenceMedia, MediaFile
from bot.media.store import MediaStore
from ledger.db import ignoring_conflicts
from ledger.decisions import DecisionError
from ledger.models import Evidence


def attach(session: Session, evidence_id: int, kept: list[dict]) -> None:
    """Record ``kept`` files (``bot.media.fetch`` results) as the item's, in order."""
    for position, item in enumerate(kept, start=1):
        session.execute(
            ignoring_conflicts(session.get_bind().dialect.name, MediaFile.__table__),
            {
                "sha256": item["sha256"],
                "content_type": item["content_type"],
                "size": item["size"],
                "created_at": datetime.now(UTC),
            },
        )
        session.add(
            EvidenceMedia(evidence_id=evidence_id, position=position, sha256=item["sha256"])
        )
    session.flush()


def files_of(session: Session, evidence_id: int) -> list[MediaFile]:
    return list(
        session.scalars(
            select(MediaFile)
            .join(EvidenceMedia, EvidenceMedia.sha256 == MediaFile.sha256)
            .where(EvidenceMedia.evidence_id == evidence_id)
            .order_by(EvidenceMedia.position)
        )
    )


def published(session: Session, sha256: str) -> MediaFile | None:
    """The file, if an approved item uses it (then it is in the ledger and public)."""
    return session.scalar(
        select(MediaFile)
        .join(EvidenceMedia, EvidenceMedia.sha256 == MediaFile.sha256)
        .join(Evidence, Evidence.id == EvidenceMedia.evidence_id)
        .where(MediaFile.sha256 == sha256, Evidence.status == "approved")
        .limit(1)
    )


def kept_hashes(evidence: Evidence) -> tuple[str, ...]:
    """The item's stored files (its ``media`` record: what arrived, kept or refused)."""
    return tuple(
        m["sha256"]
        for m in evidence.media or []
        if isinstance(m, dict) and m.get("status") == "kept"
    )


def media_rows(media: list | None) -> list[dict]:
    """What the queue shows of each file that arrived: a kept file's link and label, a
    refused one's reason, a file from before the media store (only its declared type)."""
    rows = []
    for m in media or []:
        if not isinstance(m, dict):
            continue
        if m.get("status") == "kept":
            rows.append(
                {
                    "sha256": m["sha256"],
                    "label": describe(m["content_type"], m["size"]),
                    "image": str(m["content_type"]).startswith("image/"),
                }
            )
        elif m.get("status") == "refused":
            rows.append({"refused": m.get("reason", ""), "declared": m.get("declared", "")})
        else:
            rows.append({"legacy": m.get("content_type") or "file"})
    return rows


def check_files_present(session: Session, settings, evidence_id: int) -> None:
    """Raise DecisionError when an item's stored file is gone: approving would commit the
    ledger, forever, to a file nobody can serve (``ledgerbot verify`` would then fail)."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.status != "pending":
        return  # the review path says what there is to say
    store = MediaStore(settings.resolved_media_dir)
    gone = [n for n, sha256 in enumerate(kept_hashes(evidence), 1) if not store.exists(sha256)]
    if gone:
        which = ", ".join(str(n) for n in gone)
        raise DecisionError(
            f"E{evidence_id} cannot be approved: its file {which} is missing from the media "
            f"store. Reject it (reject E{evidence_id} <reason>) or ask for it again."
        )
