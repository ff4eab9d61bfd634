"""Ledger fixtures: an independent re-check of the public hash formula, and a way to play
the attacker who drops the append-only triggers (and to put them back afterwards)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text

from ledger.migrate import MIGRATIONS

GENESIS = "0" * 64
ROWS_SQL = (
    "SELECT seq, kind, slug, payload, prev_hash, created_at, hash FROM ledger_entries ORDER BY seq"
)


def independent_hash(
    seq: int, kind: str, slug: str, payload: dict, prev_hash: str, created_at: str
) -> str:
    """The public formula, written out again with nothing but hashlib and json."""
    body = {
        "seq": seq,
        "kind": kind,
        "slug": slug,
        "payload": payload,
        "prev_hash": prev_hash,
        "created_at": created_at,
    }
    text_ = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def recheck_chain(engine: Engine) -> list[dict]:
    """Read every row with raw SQL and recompute every hash and link without ledger.chain.

    Returns the rows (payload parsed); fails the test at the first entry that does not agree.
    """
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(text(ROWS_SQL))]
        head = conn.execute(text("SELECT seq, hash FROM ledger_head WHERE id = 1")).one()
        conn.rollback()
    prev = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        assert row["seq"] == expected_seq, f"gap: expected seq {expected_seq}, got {row['seq']}"
        assert row["prev_hash"] == prev, f"seq {row['seq']}: prev_hash is not the previous hash"
        row["payload"] = json.loads(row["payload"])
        digest = independent_hash(
            row["seq"],
            row["kind"],
            row["slug"],
            row["payload"],
            row["prev_hash"],
            row["created_at"],
        )
        assert digest == row["hash"], f"seq {row['seq']}: stored hash disagrees with the formula"
        prev = row["hash"]
    assert (head.seq, head.hash) == (len(rows), prev), "ledger_head does not name the chain's tip"
    return rows


@pytest.fixture
def independent_check() -> Callable[[Engine], list[dict]]:
    return recheck_chain


def _migration_guards() -> tuple[list[str], list[str]]:
    """The trigger SQL exactly as the initial migration installs it."""
    path = MIGRATIONS / "versions" / "0001_initial_schema.py"
    spec = importlib.util.spec_from_file_location("_ledger_migration_0001", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SQLITE_GUARDS, module.POSTGRES_GUARDS


SQLITE_GUARDS, POSTGRES_GUARDS = _migration_guards()
SQLITE_TRIGGERS = ("ledger_entries_no_update", "ledger_entries_no_delete")
POSTGRES_TRIGGERS = ("ledger_entries_no_update", "ledger_entries_no_truncate")


def _drop_statements(engine: Engine) -> list[str]:
    if engine.dialect.name == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name} ON ledger_entries" for name in POSTGRES_TRIGGERS]


def _create_statements(engine: Engine) -> list[str]:
    if engine.dialect.name == "sqlite":
        return list(SQLITE_GUARDS)
    # The function survives DROP TRIGGER; only the triggers need to come back.
    return [sql for sql in POSTGRES_GUARDS if sql.lstrip().startswith("CREATE TRIGGER")]


@contextmanager
def _guards_dropped(engine: Engine) -> Iterator[None]:
    """Act as an attacker with DB access: drop the append-only triggers.

    They are always reinstalled on the way out. On PostgreSQL this matters beyond the test:
    the schema is shared by the whole session and the per-test reset reinstalls nothing.
    Every connection the test used must be closed (or idle) by then, or DDL would wait on it.
    """
    with engine.begin() as conn:
        for statement in _drop_statements(engine):
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in _drop_statements(engine) + _create_statements(engine):
                conn.execute(text(statement))


@pytest.fixture
def guards_dropped() -> Callable[[Engine], contextmanager]:
    return _guards_dropped
