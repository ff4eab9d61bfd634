"""The texts an answer quotes, kept by claim id with the article's index.

Claims are written once and never changed or deleted (nothing in the code updates the claims
or sources tables), so a claim's text and its source's id, once read, are what they will
always be. Reading the three quoted claims by id was the costliest step of an answer after
the search itself (the query, and the flush of the handling transaction's pending changes it
set off); most answers quote the same few strong claims, so they are kept here (least recently
quoted out), and the few not kept are read without that flush: the claims an answer can quote
come from the committed ledger, never from the caller's pending changes.

They are kept with the article's index (``bot.catalogue.answers``), not by claim id alone: a
database replaced under the same URL (a restore, a test's fresh schema) can reuse ids, and the
index notices that (its head's hash changed) and starts again, with an empty ``Quotes``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.models import Claim, Source

KEPT = 1024  # claims per article index (texts of at most a few hundred characters each)

Quote = tuple[str, str | None]  # (claim text, source sid)


class Quotes:
    """One article's recently quoted claims, least recently quoted out."""

    def __init__(self) -> None:
        self.kept: OrderedDict[int, Quote] = OrderedDict()
        self.lock = threading.Lock()


def quoted(session: Session, quotes: Quotes, claim_ids: list[int]) -> dict[int, Quote]:
    """``{claim id: (text, source sid)}`` for these claims."""
    found: dict[int, Quote] = {}
    kept = quotes.kept
    with quotes.lock:
        for claim_id in claim_ids:
            if (hit := kept.get(claim_id)) is not None:
                kept.move_to_end(claim_id)
                found[claim_id] = hit
    missing = [claim_id for claim_id in claim_ids if claim_id not in found]
    if not missing:
        return found
    with session.no_autoflush:
        rows = session.execute(
            select(Claim.id, Claim.text, Source.sid)
            .outerjoin(Source, Claim.source_id == Source.id)
            .where(Claim.id.in_(missing))
        ).all()
    with quotes.lock:
        for row in rows:
            found[row.id] = kept[row.id] = (row.text, row.sid)
        while len(kept) > KEPT:
            kept.popitem(last=False)
    return found
