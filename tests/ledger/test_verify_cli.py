"""`ledgerbot verify`: exit 0 with a count for a good chain, exit 1 naming the broken entry."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import bot.ops.services
from bot.cli import cli
from ledger.chain import append, verify
from ledger.db import session_factory, transaction

GENESIS = "0" * 64


@pytest.fixture
def run_cli(database_url, tmp_path, monkeypatch):
    """Invoke the real command group with the environment an operator would set."""
    # The CLI installs its Services as the process-wide current one; put ours back after.
    monkeypatch.setattr(bot.ops.services, "_current", bot.ops.services._current)
    env = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "REDIS_URL": None,
        "LEDGERBOT_DATABASE_URL": None,
        "LEDGERBOT_INSTANCE_PATH": None,
    }

    def run(*args: str):
        before = bot.ops.services._current
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        if bot.ops.services._current is not before:
            bot.ops.services._current.close()  # dispose the CLI's engine
        return result

    return run


def append_entries(engine, n: int) -> None:
    factory = session_factory(engine)
    for i in range(n):
        with transaction(factory) as session:
            append(session, "claim", "semax", {"claim": f"claim {i}", "note": "μg 日本語"})


def test_verify_empty_ledger(run_cli):
    result = run_cli("verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 0 entries, head seq 0 " + GENESIS)


def test_verify_good_chain(run_cli, engine):
    append_entries(engine, 7)
    with engine.connect() as conn:
        expected = verify(conn)
    result = run_cli("verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"ok: 7 entries, head seq 7 {expected.head_hash}"
    assert result.stderr == ""


def test_verify_tampered_chain_exits_1_and_names_the_seq(run_cli, engine, guards_dropped):
    append_entries(engine, 5)
    with guards_dropped(engine):
        with engine.begin() as conn:
            conn.execute(text("UPDATE ledger_entries SET payload = '{}' WHERE seq = 3"))
        result = run_cli("verify")
    assert result.exit_code == 1
    assert "BROKEN at seq 3" in result.stderr
    assert "hash" in result.stderr
    assert "(2 entries checked)" in result.stderr
    assert not result.stdout.startswith("ok")


def test_verify_deleted_tail_exits_1(run_cli, engine, guards_dropped):
    append_entries(engine, 5)
    with guards_dropped(engine):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_entries WHERE seq = 5"))
        result = run_cli("verify")
    assert result.exit_code == 1
    assert "BROKEN at seq 5: the head says seq 5 but the chain ends at seq 4" in result.stderr


def bulk_chain(n: int) -> list[dict]:
    """A chain built from the public formula alone, as another implementation would."""
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        payload = {"i": seq, "text": f"entry {seq} 🧪", "tags": ["bulk", seq % 7]}
        body = {
            "seq": seq,
            "kind": "bulk",
            "slug": f"slug-{seq % 13}",
            "payload": payload,
            "prev_hash": prev,
            "created_at": f"2026-01-01T00:00:{seq % 60:02d}.{seq:06d}Z",
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        payload_text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        rows.append({**body, "payload": payload_text, "hash": digest})
        prev = digest
    return rows


@pytest.mark.slow
def test_verify_streams_five_thousand_entries(run_cli, engine):
    n = 5000
    rows = bulk_chain(n)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (seq, kind, slug, payload, prev_hash, created_at, hash)"
                " VALUES (:seq, :kind, :slug, :payload, :prev_hash, :created_at, :hash)"
            ),
            rows,
        )
        conn.execute(
            text("UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": n, "hash": rows[-1]["hash"]},
        )

    seen = []
    started = time.monotonic()
    with engine.connect() as conn:
        result = verify(conn, on_entry=seen.append)
    elapsed = time.monotonic() - started
    assert result.ok and result.checked == n
    assert seen == list(range(1, n + 1))

    cli_result = run_cli("verify")
    assert cli_result.exit_code == 0, cli_result.output
    assert cli_result.stdout.strip() == f"ok: {n} entries, head seq {n} {rows[-1]['hash']}"
    print(f"\n[{engine.dialect.name}] verify of {n} entries: {elapsed:.2f}s")  # shown with -s
