"""What the media store keeps: files that pending or approved evidence uses, nothing else.

A rejected item's files are deleted right after the rejection commits (``forget``); the
periodic ``collect`` finds whatever that missed (a crash in between, a file fetched for a
message that was then rate limited, a half-written temporary). A file younger than GRACE is
left alone whatever it looks like: it may belong to a message whose transaction has not
committed yet (its worker writes the file first, then the rows that use it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.media.models import EvidenceMedia
from bot.media.store import SHA256, MediaStore
from ledger.models import Evidence

log = logging.getLogger(__name__)

# A file nothing uses may belong to a message whose job has fetched it and not yet committed
# the item that uses it; no job outlives its 60 s timeout, so twice that is safe.
GRACE_S = 120.0
BATCH = 500


def wanted(session: Session, hashes: Iterable[str]) -> set[str]:
    """Those of ``hashes`` that an item still waiting for review, or approved, uses."""
    hashes = list(hashes)
    found: set[str] = set()
    for start in range(0, len(hashes), BATCH):
        chunk = hashes[start : start + BATCH]
        found.update(
            session.scalars(
                select(EvidenceMedia.sha256)
                .join(Evidence, Evidence.id == EvidenceMedia.evidence_id)
                .where(
                    EvidenceMedia.sha256.in_(chunk),
                    Evidence.status.in_(("pending", "approved")),
                )
            )
        )
    return found


def forget(
    session: Session, store: MediaStore, hashes: Iterable[str], recent_s: float = GRACE_S
) -> int:
    """Delete those of ``hashes`` nothing uses any more (called after a rejection commits).

    A file written in the last ``recent_s`` is kept: someone may have just sent it again
    (the periodic collection removes it later, if nothing uses it by then)."""
    hashes = [h for h in dict.fromkeys(hashes) if SHA256.fullmatch(h)]
    keep = wanted(session, hashes)
    deleted = 0
    for sha256 in hashes:
        if sha256 in keep or not _older_than(store, sha256, recent_s):
            continue
        deleted += store.delete(sha256)
    if deleted:
        log.info("media store: %s file(s) of a rejected item deleted", deleted)
    return deleted


def _older_than(store: MediaStore, sha256: str, seconds: float) -> bool:
    try:
        return time.time() - store.path(sha256).stat().st_mtime > seconds
    except FileNotFoundError:
        return False


def collect(session: Session, store: MediaStore, grace_s: float = GRACE_S) -> int:
    """Delete every file older than ``grace_s`` that no pending or approved item uses."""
    now = time.time()
    old = [(name, mtime) for name, mtime in store.files() if now - mtime > grace_s]
    temporaries = [name for name, _ in old if name.startswith(".")]
    for name in temporaries:
        store.remove_temporary(name, grace_s)
    candidates = [name for name, _ in old if SHA256.fullmatch(name)]
    keep = wanted(session, candidates)
    deleted = sum(
        store.delete(sha256)
        for sha256 in candidates
        if sha256 not in keep and _older_than(store, sha256, grace_s)  # looked at again: a
    )  # resend refreshes the time between our query and the delete

    if deleted or temporaries:
        log.info("media store: collected %s file(s), %s temporary", deleted, len(temporaries))
    return deleted
