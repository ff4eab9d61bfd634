"""``ledgerbot monitor`` against the app over real HTTP and a real database (both backends).

The attacks are played as an attacker with database access would: drop the append-only
triggers, rewrite an entry, re-hash the chain after it and rebuild the tree and the head so
that ``ledgerbot verify`` still passes. Only the monitor, which remembers what the log signed,
catches it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli import monitor as cli
from bot.transparency import monitor as mon
from bot.transparency import remote as remote_mod
from ledger import checkpoints, tree
from ledger.chain import append, canonical_json, entry_hash, leaf_bytes, verify
from ledger.db import transaction
from ledger.migrate import MIGRATIONS
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.merkle import Frontier, leaf_hash, root_nodes
from ledger.tlog.notes import Verifier, generate_signing_key, open_note, vkey_of

ROOT = Path(__file__).resolve().parents[2]


def _migration(name: str):
    spec = importlib.util.spec_from_file_location(
        f"_monitor_{name}", MIGRATIONS / "versions" / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


M0001, M0005 = _migration("0001_initial_schema.py"), _migration("0005_merkle_tree.py")
TABLES = ("ledger_entries", *M0005.APPEND_ONLY)


class Log:
    """The log under test: its services, its URL, and what an operator or attacker can do."""

    def __init__(self, services, url: str) -> None:
        self.services, self.url, self.engine = services, url, services.engine
        self.vkey = services.log_key.vkey
        self.count = 0

    def grow(self, n: int, *, sign: bool = True) -> None:
        with transaction(self.services.sessions) as session:
            for _ in range(n):
                self.count += 1
                payload = {"claim": f"claim {self.count} é", "tier": "human", "n": self.count}
                append(session, "claim", "semax", payload)
        if sign:
            self.sign()

    def sign(self):
        with transaction(self.services.sessions) as session:
            return checkpoints.sign_head(session, self.services.log_key)

    def rows(self, conn) -> list[SimpleNamespace]:
        sql = "SELECT seq, kind, slug, payload, prev_hash, created_at, hash FROM ledger_entries"
        return [SimpleNamespace(**r._mapping) for r in conn.execute(text(sql + " ORDER BY seq"))]

    def verify_passes(self) -> bool:
        with self.engine.connect() as conn:
            return verify(conn).ok


@contextmanager
def guards_dropped(engine) -> Iterator[None]:
    """Drop the append-only triggers of entries, tree and checkpoints; always put them back
    (on PostgreSQL the schema is shared by the whole test session)."""
    sqlite = engine.dialect.name == "sqlite"
    verbs = ("update", "delete") if sqlite else ("update", "truncate")
    drops = [
        f"DROP TRIGGER IF EXISTS {t}_no_{v}" + ("" if sqlite else f" ON {t}")
        for t in TABLES
        for v in verbs
    ]
    guards = (M0001.SQLITE_GUARDS if sqlite else M0001.POSTGRES_GUARDS) + M0005._guards(
        engine.dialect.name
    )
    creates = [sql for sql in guards if sql.lstrip().startswith("CREATE TRIGGER")]
    with engine.begin() as conn:
        for sql in drops:
            conn.execute(text(sql))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for sql in drops + creates:
                conn.execute(text(sql))


def rewrite_history(log: Log, seq: int) -> None:
    """Change entry ``seq``'s payload, re-hash every later entry, rebuild tree and head."""
    with guards_dropped(log.engine), log.engine.begin() as conn:
        rows = log.rows(conn)
        prev = rows[seq - 2].hash if seq > 1 else "0" * 64
        for row in rows[seq - 1 :]:
            payload = json.loads(row.payload)
            if row.seq == seq:
                payload["claim"] = "a claim nobody ever made"
            row.payload, row.prev_hash = canonical_json(payload), prev
            row.hash = entry_hash(vars(row) | {"payload": payload})
            prev = row.hash
            conn.execute(
                text(
                    "UPDATE ledger_entries SET payload = :payload, prev_hash = :prev_hash, "
                    "hash = :hash WHERE seq = :seq"
                ),
                vars(row),
            )
        conn.execute(text("DELETE FROM ledger_tree"))
        frontier, nodes = Frontier(), []
        for row in rows:
            nodes += frontier.append(leaf_hash(leaf_bytes(row)))
        conn.execute(
            text("INSERT INTO ledger_tree (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": lv, "i": ix, "h": h} for lv, ix, h in nodes],
        )
        set_head(conn, len(rows), prev, frontier)
    assert log.verify_passes()


def set_head(conn, seq: int, digest: str, frontier: Frontier) -> None:
    conn.execute(
        text("UPDATE ledger_head SET seq = :s, hash = :h, tree = :t WHERE id = 1"),
        {"s": seq, "h": digest, "t": frontier.to_bytes()},
    )


def delete_checkpoints(conn, above: int = -1) -> None:
    conn.execute(text("DELETE FROM ledger_cosignatures WHERE size > :n"), {"n": above})
    conn.execute(text("DELETE FROM ledger_checkpoints WHERE size > :n"), {"n": above})


def truncate(log: Log, size: int) -> None:
    """Cut the log back to ``size`` entries: entries, tree nodes, checkpoints and head."""
    with guards_dropped(log.engine), log.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_entries WHERE seq > :n"), {"n": size})
        for level, idx in conn.execute(text("SELECT level, idx FROM ledger_tree")).all():
            if (idx + 1) << level > size:
                conn.execute(
                    text("DELETE FROM ledger_tree WHERE level = :l AND idx = :i"),
                    {"l": level, "i": idx},
                )
        delete_checkpoints(conn, above=size)
        hashes = tree.node_getter(conn)(root_nodes(size))
        last = conn.execute(text("SELECT hash FROM ledger_entries WHERE seq = :n"), {"n": size})
        set_head(conn, size, last.scalar_one(), Frontier(size, hashes))
    log.count = size


@pytest.fixture
def log(services, live_server) -> Iterator[Log]:
    # The server's request log would land in the CLI output the tests read (its stderr).
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    yield Log(services, live_server)
    werkzeug.setLevel(level)


def run_monitor(log: Log, state: Path, *args: str, vkey: str | None = "pinned"):
    argv = [log.url, "--state", str(state), *args]
    if vkey:
        argv += ["--vkey", log.vkey if vkey == "pinned" else vkey]
    return CliRunner().invoke(cli.monitor, argv)


def evidence(state: Path, kind: str) -> dict:
    [path] = state.glob(f"evidence-*-{kind.lower()}.json")
    body = json.loads(path.read_text())
    assert body["kind"] == kind
    return body


def signed(note: str, vkey: str) -> Checkpoint:
    """A note from an evidence file, checked the way a third party would: with the vkey alone."""
    return Checkpoint.parse(open_note(note, [Verifier.from_vkey(vkey)]).text)


# ------------------------------------------------------------------------------ the tests


def test_monitor_follows_the_log_and_catches_up_from_zero(log, tmp_path):
    state = tmp_path / "state"
    log.grow(5)
    result = run_monitor(log, state)
    assert result.exit_code == 0, result.output
    assert result.output == "ok: bot.example.test size 0 -> 5, 5 new entries verified\n"
    assert run_monitor(log, state, vkey=None).output.startswith("ok: no new entries")
    log.grow(300)  # bundle 0 goes from partial (5) to full, bundle 1 is partial (49)
    assert "size 5 -> 305, 300 new entries" in run_monitor(log, state).output
    log.grow(3, sign=False)  # appended but not yet signed: nothing new to verify
    assert run_monitor(log, state).output.startswith("ok: no new entries")
    log.sign()
    assert "size 305 -> 308, 3 new entries" in run_monitor(log, state, vkey=None).output
    saved = json.loads((state / "state.json").read_text())
    assert (saved["size"], saved["vkey"], saved["origin"]) == (308, log.vkey, "bot.example.test")
    assert signed(saved["checkpoint"], log.vkey).size == 308
    with log.engine.connect() as conn:
        assert saved["last_hash"] == log.rows(conn)[-1].hash

    fresh = tmp_path / "fresh"  # catch-up from 0 in one round: full and partial bundles
    result = run_monitor(log, fresh)
    assert "size 0 -> 308, 308 new entries" in result.output, result.output
    assert json.loads((fresh / "state.json").read_text()) == saved


def test_follow_retries_network_errors_and_stops_on_evidence(log, tmp_path, monkeypatch):
    log.grow(20)
    real_get = remote_mod.Remote.get
    outage = {"left": 0}

    def flaky_get(self, path, params=None):
        if outage["left"]:
            outage["left"] -= 1
            raise remote_mod.NetworkError(f"{self.url}{path}: connection refused (simulated)")
        return real_get(self, path, params)

    script = iter(
        [lambda: log.grow(7), lambda: outage.update(left=1), lambda: truncate_and_sign(log, 9)]
    )
    monkeypatch.setattr(remote_mod.Remote, "get", flaky_get)
    monkeypatch.setattr(cli, "time", SimpleNamespace(sleep=lambda _s: next(script)()))
    result = run_monitor(log, tmp_path, "--follow", "--interval", "5")
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == "ok: bot.example.test size 0 -> 20, 20 new entries verified"
    assert lines[1] == "ok: bot.example.test size 20 -> 27, 7 new entries verified"
    assert lines[2].startswith("warning: ") and "trying again in 5s" in lines[2]
    assert lines[3].startswith("ROLLBACK: the log now signs size 9, after signing size 27")
    assert json.loads((tmp_path / "state.json").read_text())["size"] == 27


def truncate_and_sign(log: Log, size: int) -> None:
    truncate(log, size)
    log.sign()


def test_rollback_is_evidence_and_the_state_stays(log, tmp_path):
    log.grow(40)
    assert run_monitor(log, tmp_path).exit_code == 0
    before = (tmp_path / "state.json").read_bytes()
    truncate_and_sign(log, 33)
    assert log.verify_passes()
    result = run_monitor(log, tmp_path)
    assert result.exit_code == 2, result.output
    assert "ROLLBACK" in result.output and "evidence-" in result.output
    body = evidence(tmp_path, "ROLLBACK")
    assert signed(body["previous_checkpoint"], log.vkey).size == 40
    assert signed(body["new_checkpoint"], log.vkey).size == 33
    assert (tmp_path / "state.json").read_bytes() == before


def test_rewritten_history_resigned_by_the_key_holder_is_a_fork(log, tmp_path):
    log.grow(300)
    assert run_monitor(log, tmp_path).exit_code == 0
    before = (tmp_path / "state.json").read_bytes()
    rewrite_history(log, 10)
    with guards_dropped(log.engine), log.engine.begin() as conn:
        delete_checkpoints(conn)
    log.grow(12)  # the operator signs a new, larger checkpoint over the rewritten tree
    assert log.verify_passes()  # `ledgerbot verify` sees nothing wrong
    result = run_monitor(log, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("FORK: the log cannot prove that size 312 extends size 300")
    body = evidence(tmp_path, "FORK")
    old, new = (
        signed(body["previous_checkpoint"], log.vkey),
        signed(body["new_checkpoint"], log.vkey),
    )
    assert (old.size, new.size) == (300, 312)
    proof = body["proof"]
    assert proof["request"] == {"from": 300, "to": 312} and proof["response"]["hashes"]
    assert proof["response"]["from_root"] != body["verified"]["root"] == mon._b64(old.root)
    assert (tmp_path / "state.json").read_bytes() == before


@pytest.mark.parametrize("appended", [0, 5])
def test_rewritten_history_without_the_key_is_a_mismatch(log, tmp_path, appended):
    log.grow(260)
    assert run_monitor(log, tmp_path).exit_code == 0
    before = (tmp_path / "state.json").read_bytes()
    rewrite_history(log, 3)
    log.grow(appended, sign=False)  # the log runs on; the attacker cannot sign
    assert log.verify_passes()
    result = run_monitor(log, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("MISMATCH: the log's tiles at size 260 do not hash to the root")
    body = evidence(tmp_path, "MISMATCH")
    assert body["previous_checkpoint"] == body["new_checkpoint"]
    assert body["tiles"]["root"] != mon._b64(signed(body["new_checkpoint"], log.vkey).root)
    assert (tmp_path / "state.json").read_bytes() == before


def test_an_entry_changed_in_place_is_a_mismatch(log, tmp_path):
    log.grow(4)
    assert run_monitor(log, tmp_path).exit_code == 0
    log.grow(6)
    with guards_dropped(log.engine), log.engine.begin() as conn:  # no re-hash: verify sees it
        conn.execute(text("UPDATE ledger_entries SET slug = 'bpc-157' WHERE seq = 7"))
    assert not log.verify_passes()
    result = run_monitor(log, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        "MISMATCH: the log's tiles are inconsistent: tile/entries/000.p/10 does not match"
    )
    assert json.loads((tmp_path / "state.json").read_text())["size"] == 4


def test_an_api_that_disagrees_with_the_signed_entries_is_a_mismatch(log, tmp_path, monkeypatch):
    log.grow(10)
    real_json = remote_mod.Remote.json

    def lying_json(self, path, params=None):
        answer = real_json(self, path, params)
        for entry in answer.get("entries", []) if path == "/api/ledger" else []:
            if entry["seq"] == 7:
                entry["slug"] = "bpc-157"
        return answer

    monkeypatch.setattr(remote_mod.Remote, "json", lying_json)
    result = run_monitor(log, tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("MISMATCH: entry 7: the API's entry is not the entry in")
    body = evidence(tmp_path, "MISMATCH")
    assert body["previous_checkpoint"] is None and signed(body["new_checkpoint"], log.vkey)
    assert body["entry"]["api_entry"]["slug"] == "bpc-157"
    assert json.loads(body["entry"]["leaf"])["slug"] == "semax"
    assert not (tmp_path / "state.json").exists()


def test_a_crash_while_saving_leaves_the_old_state(log, tmp_path):
    log.grow(8)
    assert run_monitor(log, tmp_path).exit_code == 0
    before = (tmp_path / "state.json").read_bytes()
    log.grow(300)
    crash = (
        "import os, sys; from bot.cli import monitor as m;"
        "os.replace = lambda *a: os._exit(9);"  # dies after the temp file is fsynced
        "m.monitor.main(sys.argv[1:])"
    )
    argv = [sys.executable, "-c", crash, log.url, "--state", str(tmp_path)]
    assert subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60).returncode == 9
    assert (tmp_path / "state.json").read_bytes() == before
    [leftover] = tmp_path.glob(".state.json.*.tmp")
    assert json.loads(leftover.read_text())["size"] == 308  # the new state never replaced it
    assert "size 8 -> 308" in run_monitor(log, tmp_path, vkey=None).output


def test_keys_must_be_pinned_and_signatures_must_verify(log, tmp_path):
    log.grow(3)
    result = run_monitor(log, tmp_path / "a", vkey=None)
    assert result.exit_code == 1 and "ledgerbot tlog vkey" in result.output
    assert f"{log.url}/tlog/vkey" in result.output
    other = vkey_of(generate_signing_key("bot.example.test"))
    result = run_monitor(log, tmp_path / "b", vkey=other)
    assert result.exit_code == 1 and "not one signed by the pinned key" in result.output
    assert not (tmp_path / "b" / "state.json").exists()

    assert run_monitor(log, tmp_path).exit_code == 0
    before = (tmp_path / "state.json").read_bytes()
    result = run_monitor(log, tmp_path, vkey=other)
    assert result.exit_code == 1 and "differs from the key pinned" in result.output
    forged = log.sign().note.replace("\n3\n", "\n4\n", 1)  # a bigger size under the old signature
    with log.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_checkpoints (size, root, note, signed_at) "
                "VALUES (4, :r, :n, CURRENT_TIMESTAMP)"
            ),
            {"r": b"\0" * 32, "n": forged},
        )
    result = run_monitor(log, tmp_path, vkey=None)
    assert result.exit_code == 1 and "invalid signature" in result.output
    assert (tmp_path / "state.json").read_bytes() == before
    assert not list(tmp_path.glob("evidence-*"))


def test_usage_errors_exit_1_not_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli.monitor, ["http://127.0.0.1:9"]).exit_code == 1
    assert runner.invoke(cli.monitor, ["ftp://x", "--state", str(tmp_path)]).exit_code == 1
    assert runner.invoke(cli.monitor, ["http://x", "--state", "d", "--bogus"]).exit_code == 1
    result = runner.invoke(
        cli.monitor, ["http://127.0.0.1:9", "--state", str(tmp_path), "--vkey", "not-a-key"]
    )
    assert result.exit_code == 1 and "not a verifier key" in result.output
    assert os.listdir(tmp_path) == ["lock"]
    vkey = vkey_of(generate_signing_key("example.org"))
    result = runner.invoke(
        cli.monitor, ["http://127.0.0.1:9", "--state", str(tmp_path), "--vkey", vkey]
    )
    assert result.exit_code == 1 and "http://127.0.0.1:9/tlog/checkpoint" in result.output
    assert os.listdir(tmp_path) == ["lock"]


@pytest.mark.parametrize(
    "entry",
    [
        {"seq": 1, "kind": "claim", "slug": "semax", "prev_hash": "0" * 64, "created_at": "t"},
        {"payload": {"z": [1, {"é": "ü\u2028", "a": None}], "b": True, "\U0001f600": -(2**70)}},
    ],
)
def test_the_cached_encoder_is_the_public_canonical_json(entry):
    """ledger.chain.canonical_json (one encoder, built once) is the README's json.dumps."""
    readme = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(entry) == readme
