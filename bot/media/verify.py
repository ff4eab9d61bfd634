"""The published files against the ledger: every evidence entry's files, re-hashed.

An approved entry commits to each file's SHA-256, size and type; ``ledgerbot verify`` reads
each from the media store and checks all three, so a lost or altered file is found the same
way an altered entry is. The monitor does the same over HTTP for a ledger it does not run
(``bot.transparency.monitor``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.media.store import MediaStore
from ledger.media import SHA256, committed, problem
from ledger.models import LedgerEntry


@dataclass
class MediaReport:
    files: int = 0
    problems: list[str] = field(default_factory=list)


def _entries(conn: Connection) -> Iterator[tuple[int, dict]]:
    rows = conn.execute(
        select(LedgerEntry.seq, LedgerEntry.payload)
        .where(LedgerEntry.kind == "evidence", LedgerEntry.payload.contains('"media"'))
        .order_by(LedgerEntry.seq)
        .execution_options(yield_per=1000)
    )
    for seq, payload in rows:
        yield seq, json.loads(payload)


def verify_files(conn: Connection, store: MediaStore) -> MediaReport:
    report = MediaReport()
    for seq, payload in _entries(conn):
        for item in committed(payload):
            report.files += 1
            sha256 = str(item.get("sha256", ""))
            data = store.read(sha256) if SHA256.fullmatch(sha256) else None
            found = problem(seq, item, data)
            if found:
                report.problems.append(found)
    return report
