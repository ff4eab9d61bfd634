"""Rewriting history: the database refuses it, and if an attacker gets past that, verify sees it."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from ledger.chain import append, verify
from ledger.db import session_factory, transaction
from ledger.models import LedgerEntry

ROW_SQL = "SELECT seq, kind, slug, payload, prev_hash, created_at, hash FROM ledger_entries"


def build_chain(engine, n: int = 5) -> list[dict]:
    factory = session_factory(engine)
    for i in range(1, n + 1):
        with transaction(factory) as session:
            append(session, "claim", "semax", {"claim": f"claim {i}", "tier": "human"})
    return raw_rows(engine)


def raw_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(text(ROW_SQL + " ORDER BY seq"))]
        conn.rollback()
    return rows


def run_verify(engine):
    with engine.connect() as conn:
        return verify(conn)


def execute(engine, sql: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


# (a) The database refuses to change history.


def test_update_is_refused(engine):
    before = build_chain(engine, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "UPDATE ledger_entries SET payload = :p WHERE seq = 2", p='{"x":1}')
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "UPDATE ledger_entries SET created_at = created_at")
    assert raw_rows(engine) == before
    assert run_verify(engine).ok


def test_delete_is_refused(engine):
    before = build_chain(engine, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "DELETE FROM ledger_entries")
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "DELETE FROM ledger_entries WHERE seq = 3")
    assert raw_rows(engine) == before
    assert run_verify(engine).ok


def test_changing_an_entry_through_the_orm_is_refused(engine):
    before = build_chain(engine, 2)
    factory = session_factory(engine)
    with pytest.raises(DBAPIError, match="append-only"), transaction(factory) as session:
        entry = session.get(LedgerEntry, 1)
        entry.payload = json.dumps({"claim": "rewritten"})
    with pytest.raises(DBAPIError, match="append-only"), transaction(factory) as session:
        session.delete(session.get(LedgerEntry, 2))
    assert raw_rows(engine) == before


def test_truncate_is_refused_on_postgresql(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    before = build_chain(engine, 3)
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "TRUNCATE ledger_entries")
    assert raw_rows(engine) == before


# (b) An attacker with database access drops the triggers first; verify catches the edit.


def test_rewritten_payload_is_caught_by_its_hash(engine, guards_dropped, independent_check):
    build_chain(engine)
    with guards_dropped(engine):
        execute(
            engine,
            "UPDATE ledger_entries SET payload = :p WHERE seq = 3",
            p=json.dumps({"claim": "claim 3", "tier": "anecdotal"}, separators=(",", ":")),
        )
        result = run_verify(engine)
        assert not result.ok
        assert result.bad_seq == 3
        assert "hash" in result.reason
        assert result.checked == 2
        with pytest.raises(AssertionError, match="seq 3"):
            independent_check(engine)


def test_rewritten_timestamp_is_caught_by_its_hash(engine, guards_dropped):
    build_chain(engine)
    with guards_dropped(engine):
        execute(
            engine,
            "UPDATE ledger_entries SET created_at = '2020-01-01T00:00:00.000000Z' WHERE seq = 2",
        )
        result = run_verify(engine)
    assert (result.ok, result.bad_seq) == (False, 2)
    assert "hash" in result.reason


def rehashed(row: dict, **changes) -> dict:
    """The row with ``changes`` applied and a hash that is right for its new contents,
    computed as an attacker would: from the public formula, without our code."""
    row = {**row, **changes}
    body = {name: row[name] for name in ("seq", "kind", "slug", "prev_hash", "created_at")}
    body["payload"] = json.loads(row["payload"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    row["hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return row


def rewrite(engine, row: dict) -> None:
    execute(
        engine,
        "UPDATE ledger_entries SET payload = :payload, prev_hash = :prev_hash, hash = :hash"
        " WHERE seq = :seq",
        **row,
    )


def test_rewritten_entry_with_recomputed_hash_breaks_the_next_link(
    engine, guards_dropped, independent_check
):
    rows = build_chain(engine)
    forged = rehashed(rows[2], payload=json.dumps({"claim": "forged", "tier": "human"}))
    with guards_dropped(engine):
        rewrite(engine, forged)
        result = run_verify(engine)
        assert not result.ok
        assert result.bad_seq == 4
        assert "prev_hash" in result.reason
        assert result.checked == 3  # entry 3 itself now hashes correctly
        with pytest.raises(AssertionError, match="seq 4"):
            independent_check(engine)


def test_deleted_last_entry_is_caught_by_the_head(engine, guards_dropped):
    build_chain(engine)
    with guards_dropped(engine):
        execute(engine, "DELETE FROM ledger_entries WHERE seq = 5")
        result = run_verify(engine)
    assert not result.ok
    assert result.bad_seq == 5
    assert result.checked == 4
    assert "head" in result.reason
    assert "seq 5" in result.reason and "seq 4" in result.reason


def test_deleted_middle_entry_is_caught_as_a_gap(engine, guards_dropped):
    build_chain(engine)
    with guards_dropped(engine):
        execute(engine, "DELETE FROM ledger_entries WHERE seq = 2")
        result = run_verify(engine)
    assert (result.ok, result.bad_seq, result.checked) == (False, 2, 1)
    assert "expected seq 2" in result.reason


def test_rewound_head_is_caught(engine):
    """The head row has no trigger (appends move it); pointing it elsewhere is still seen."""
    rows = build_chain(engine)
    execute(engine, "UPDATE ledger_head SET seq = 5, hash = :h WHERE id = 1", h=rows[3]["hash"])
    result = run_verify(engine)
    assert (result.ok, result.bad_seq) == (False, 5)
    assert "head" in result.reason


def test_forged_float_payload_with_a_valid_hash_is_refused(engine, guards_dropped):
    rows = build_chain(engine, 1)
    forged = rehashed(rows[0], payload='{"dose":1.5}')
    with guards_dropped(engine):
        rewrite(engine, forged)
        execute(engine, "UPDATE ledger_head SET hash = :h WHERE id = 1", h=forged["hash"])
        result = run_verify(engine)
    assert (result.ok, result.bad_seq) == (False, 1)
    assert "payload" in result.reason


def test_full_rewrite_from_an_entry_onwards_needs_a_published_head_to_catch(engine, guards_dropped):
    """The limit of a self-contained chain: an attacker who rewrites an entry, every entry
    after it and the head row leaves a chain that verifies. Only a head hash published
    elsewhere before the edit exposes it, which is why the head hash is public."""
    rows = build_chain(engine)
    published = run_verify(engine).head_hash
    with guards_dropped(engine):
        prev = rows[1]["hash"]
        for row in rows[2:]:
            changes = {"prev_hash": prev}
            if row["seq"] == 3:
                changes["payload"] = json.dumps({"claim": "forged", "tier": "human"})
            forged = rehashed(row, **changes)
            rewrite(engine, forged)
            prev = forged["hash"]
        execute(engine, "UPDATE ledger_head SET hash = :h WHERE id = 1", h=prev)
        result = run_verify(engine)
    assert result.ok and result.checked == 5
    assert result.head_hash != published


def test_triggers_are_back_after_an_attack(engine, guards_dropped):
    build_chain(engine, 2)
    with guards_dropped(engine):
        execute(engine, "UPDATE ledger_entries SET kind = 'x' WHERE seq = 1")
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "UPDATE ledger_entries SET kind = 'y' WHERE seq = 1")
    with pytest.raises(DBAPIError, match="append-only"):
        execute(engine, "DELETE FROM ledger_entries")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(LedgerEntry)) == 2
        conn.rollback()
