"""Stages 4 and 5: appending to the hash chain, and verifying it, on SQLite.

Append: ``ledger.chain.append`` through the project's engine (``ledger.db.make_engine``: WAL,
synchronous=FULL, BEGIN IMMEDIATE), one entry per transaction, against a raw ``sqlite3`` loop
doing the same durable work per entry with the same pragmas (BEGIN IMMEDIATE, read the head,
build the entry, canonical JSON, SHA-256, INSERT, tree nodes, UPDATE the head, COMMIT). Then the
batched form: many appends in one transaction (an article import), again against the raw loop.

Verify: chains of 100,000 and 1,000,000 entries are built directly (entries made with the public
formula and bulk-inserted under the append-only triggers), then ``ledger.chain.verify`` (what
``ledgerbot verify`` runs) is timed against the README's ten-line check run over the same rows
with a bare ``sqlite3`` cursor.
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import profiling
from bench.config import RunConfig
from bench.harness import shown
from bench.results import Row, StageResult, Target

GENESIS = "0" * 64
BATCH_TARGET = Target(">=", 10_000.0, "≥ 10,000 entries/s")
SINGLE_TARGET = Target("ratio>=", 0.50, "≥ 50% of ceiling")
VERIFY_TARGET = Target("ratio>=", 0.50, "≥ 50% of ceiling")
LINEAR_TARGET = Target("<=", 1.25, "≤ 1.25 (linear)")
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload(i: int) -> dict:
    return {
        "node_id": i,
        "question": f"does it raise BDNF in people? question {i}",
        "asker": "p-0123456789abcdef",
    }


class Template:
    """One migrated SQLite file, copied for every measurement."""

    def __init__(self) -> None:
        from ledger.db import make_engine
        from ledger.migrate import upgrade

        self.folder = Path(tempfile.mkdtemp(prefix="ledgerbot-bench-ledger-"))
        self.path = self.folder / "template.sqlite3"
        engine = make_engine("sqlite:///" + str(self.path))
        upgrade(engine)
        engine.dispose()
        self._n = 0

    def fresh(self) -> Path:
        self._n += 1
        target = self.folder / f"db-{self._n}.sqlite3"
        shutil.copyfile(self.path, target)
        return target

    def drop(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# -- append ------------------------------------------------------------------------------------


def bot_append(path: Path, count: int, batched, profile: cProfile.Profile | None = None):
    """batched: False (a transaction each), True (one transaction), "import" (append_many)."""
    return bot_append_url("sqlite:///" + str(path), count, batched, profile)


def bot_append_url(url: str, count: int, batched=False, profile=None) -> float:
    """``bot_append`` on any database URL (the tlog stage runs it on PostgreSQL too)."""
    from ledger.chain import append, append_many
    from ledger.db import make_engine, session_factory, transaction

    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions) as session:  # open the connection, warm the statement cache
        append(session, "question", "semax", payload(0))
    if profile:
        profile.enable()
    started = time.perf_counter()
    if batched == "import":  # what ledger.importer does: one head lock, one executemany
        with transaction(sessions) as session:
            append_many(session, [("claim", "semax", payload(i)) for i in range(1, count + 1)])
    elif batched:
        with transaction(sessions) as session:
            for i in range(1, count + 1):
                append(session, "question", "semax", payload(i))
    else:
        for i in range(1, count + 1):
            with transaction(sessions) as session:
                append(session, "question", "semax", payload(i))
    elapsed = time.perf_counter() - started
    if profile:
        profile.disable()
    engine.dispose()
    return count / elapsed


def _raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def _raw_one(conn: sqlite3.Connection, i: int) -> None:
    """The durable work of one append, tree included: read the head (seq, hash, frontier),
    build and hash the entry, INSERT it and its new tree nodes, UPDATE the head."""
    from ledger.tlog.merkle import Frontier, leaf_hash

    seq, prev, tree = conn.execute(
        "SELECT seq, hash, tree FROM ledger_head WHERE id = 1"
    ).fetchone()
    body = {
        "seq": seq + 1,
        "kind": "question",
        "slug": "semax",
        "payload": payload(i),
        "prev_hash": prev,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    data = canonical(body).encode()
    digest = hashlib.sha256(data).hexdigest()
    conn.execute(
        "INSERT INTO ledger_entries (seq, kind, slug, payload, prev_hash, created_at, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            seq + 1,
            "question",
            "semax",
            canonical(body["payload"]),
            prev,
            body["created_at"],
            digest,
        ),
    )
    frontier = Frontier.from_bytes(seq, tree)
    conn.executemany(
        "INSERT INTO ledger_tree (level, idx, hash) VALUES (?, ?, ?)",
        frontier.append(leaf_hash(data)),
    )
    conn.execute(
        "UPDATE ledger_head SET seq = ?, hash = ?, tree = ? WHERE id = 1",
        (seq + 1, digest, frontier.to_bytes()),
    )


def raw_append(path: Path, count: int, batched: bool) -> float:
    conn = _raw_connect(path)
    conn.execute("BEGIN IMMEDIATE")
    _raw_one(conn, 0)
    conn.execute("COMMIT")
    started = time.perf_counter()
    if batched:
        conn.execute("BEGIN IMMEDIATE")
        for i in range(1, count + 1):
            _raw_one(conn, i)
        conn.execute("COMMIT")
    else:
        for i in range(1, count + 1):
            conn.execute("BEGIN IMMEDIATE")
            _raw_one(conn, i)
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def _check_chain(path: Path, expected: int) -> None:
    from ledger.chain import verify
    from ledger.db import make_engine, reader

    engine = make_engine("sqlite:///" + str(path))
    with reader(engine).connect() as conn:
        result = verify(conn)
    engine.dispose()
    if not result.ok or result.checked != expected:
        raise RuntimeError(f"chain in {path} is not valid: {result}")


def _fsync_us(folder: Path, count: int = 300) -> float:
    import os

    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        return (time.perf_counter() - started) / count * 1e6
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def run_append(cfg: RunConfig) -> StageResult:
    result = StageResult("ledger", "Ledger append on SQLite (WAL, synchronous=FULL)")
    singles, batch_size = cfg.pick(200, 2_000), cfg.pick(2_000, 20_000)
    template = Template()
    try:
        bot_single, raw_single, bot_batch, raw_batch, bot_import = [], [], [], [], []
        for _ in range(cfg.rounds):
            for rates, fn, batched, count in (
                (raw_single, raw_append, False, singles),
                (bot_single, bot_append, False, singles),
                (raw_batch, raw_append, True, batch_size),
                (bot_batch, bot_append, True, batch_size),
                (bot_import, bot_append, "import", batch_size),
            ):
                path = template.fresh()
                rates.append(fn(path, count, batched))
                _check_chain(path, count + 1)
                template.drop(path)
        fsync = _fsync_us(template.folder)
        result.rows = [
            Row(
                "ledger",
                "ledger.chain.append, one transaction each",
                "entries/s",
                bot_single,
                ceiling=raw_single,
                ceiling_label="raw sqlite3 loop, same pragmas",
                target=SINGLE_TARGET,
            ),
            Row(
                "ledger",
                f"ledger.chain.append, {batch_size:,} in one transaction",
                "entries/s",
                bot_batch,
                ceiling=raw_batch,
                ceiling_label="raw sqlite3 loop, one transaction",
            ),
            Row(
                "ledger",
                f"ledger.chain.append_many (article import), {batch_size:,} in one transaction",
                "entries/s",
                bot_import,
                ceiling=raw_batch,
                ceiling_label="raw sqlite3 loop, one transaction",
                target=BATCH_TARGET,
            ),
        ]
        per_bot = 1e6 / result.rows[0].median
        per_raw = 1e6 / result.rows[0].ceiling_median
        batch_bot = 1e6 / result.rows[1].median
        batch_raw = 1e6 / result.rows[1].ceiling_median
        result.notes.append(
            f"One append per transaction costs {per_bot:,.0f} µs against the raw loop's "
            f"{per_raw:,.0f} µs; both pay a COMMIT with fsync of the WAL (an fsync alone takes "
            f"{fsync:,.0f} µs on this disk). Inside one transaction the fsync is paid once: "
            f"{batch_bot:,.0f} µs per append against {batch_raw:,.0f} µs raw, so the "
            f"{batch_bot - batch_raw:,.0f} µs difference is SQLAlchemy's per-statement cost (a "
            f"head SELECT, an INSERT and a head UPDATE per entry, as Core statements built once) "
            f"plus check_payload. An import (`append_many`: one head lock, one executemany) "
            f"avoids most of it. Every chain built here was verified afterwards. History: the "
            f"first version of `append` went through the ORM (add + flush + ORM UPDATE) and "
            f"measured 1,366/s single and 2,635/s batched; this benchmark's profile led to the "
            f"Core statements and `append_many`."
        )
        result.details = {"fsync_us": fsync, "singles": singles, "batch": batch_size}
        if cfg.profile and result.rows[0].passed is False:
            folder = cfg.out_dir / "profiles" / "ledger-single"
            folder.mkdir(parents=True, exist_ok=True)
            profile = cProfile.Profile()
            path = template.fresh()
            bot_append(path, min(singles, 2_000), False, profile)
            template.drop(path)
            profile.dump_stats(str(folder / "append.pstats"))
            stats = profiling.load([folder / "append.pstats"])
            (folder / "top.txt").write_text(profiling.top(stats, "tottime", 40))
            whole, rows = profiling.breakdown(
                stats,
                None,
                [
                    ("COMMIT with fsync", "sqlalchemy/engine/default.py", "do_commit"),
                    ("BEGIN IMMEDIATE", "ledger/db.py", "_on_begin"),
                    ("append (3 statements + hashing)", "ledger/chain.py", "append_many"),
                    ("canonical JSON + SHA-256", "ledger/chain.py", "_hashed_row"),
                    ("statement execution", "sqlalchemy/engine/base.py", "_execute_context"),
                ],
            )
            result.notes.append(
                "Profile of single appends (cProfile; shares of `append`): "
                + profiling.describe(whole, rows, min(singles, 2_000))
                + f". Full list: `{shown(folder / 'top.txt')}`."
            )
    finally:
        template.close()
    return result


# -- verify ------------------------------------------------------------------------------------


def generate(count: int) -> Iterator[tuple]:
    """Valid entries by the public formula: varied kinds, slugs and payload shapes."""
    prev = GENESIS
    base = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ("question", "source", "claim", "evidence", "moderation")
    for seq in range(1, count + 1):
        kind = kinds[seq % len(kinds)]
        slug = ("semax", "selank", "bpc-157", "noopept")[seq % 4]
        if kind == "question":
            body_payload = payload(seq)
        elif kind == "source":
            body_payload = {
                "sid": f"S{seq}",
                "kind": "pubmed",
                "title": f"Study {seq}",
                "url": f"https://pubmed.ncbi.nlm.nih.gov/{10_000_000 + seq}/",
            }
        elif kind == "claim":
            body_payload = {
                "claim_id": seq,
                "tier": "human",
                "sources": [f"S{seq - 1}"],
                "text": f"Semax raised serum BDNF in {seq % 90 + 10} volunteers.",
            }
        elif kind == "evidence":
            body_payload = {
                "evidence_id": seq,
                "node_id": seq - 3,
                "contributor": "p-00ff",
                "identifiers": {"pmid": [str(30_000_000 + seq)]},
                "media": [],
            }
        else:
            body_payload = {
                "evidence_id": seq - 1,
                "decision": "approved",
                "tier": "human",
                "moderator": "p-aa11",
                "reason": None,
                "public": True,
            }
        created = (base + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "seq": seq,
            "kind": kind,
            "slug": slug,
            "payload": body_payload,
            "prev_hash": prev,
            "created_at": created,
        }
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        yield seq, kind, slug, canonical(body_payload), prev, created, digest
        prev = digest


def build_chain(path: Path, count: int) -> tuple[float, str]:
    """Bulk-insert ``count`` entries (triggers in place: they only refuse UPDATE and DELETE)."""
    started = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # building the input, not measuring it
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("BEGIN IMMEDIATE")
    last = GENESIS
    chunk: list[tuple] = []
    sql = (
        "INSERT INTO ledger_entries (seq, kind, slug, payload, prev_hash, created_at, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    for row in generate(count):
        chunk.append(row)
        if len(chunk) == 20_000:
            conn.executemany(sql, chunk)
            chunk = []
        last = row[6]
    if chunk:
        conn.executemany(sql, chunk)
    conn.execute("UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1", (count, last))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started, last


def bot_verify(path: Path, expected: int) -> float:
    from ledger.chain import verify
    from ledger.db import make_engine, reader

    engine = make_engine("sqlite:///" + str(path))
    started = time.perf_counter()
    with reader(engine).connect() as conn:
        outcome = verify(conn)
    elapsed = time.perf_counter() - started
    engine.dispose()
    if not outcome.ok or outcome.checked != expected:
        raise RuntimeError(f"verify failed: {outcome}")
    return elapsed


def raw_verify(path: Path, expected: int) -> float:
    """The README's ten-line check over a bare sqlite3 cursor."""
    conn = sqlite3.connect(str(path))
    started = time.perf_counter()
    cursor = conn.execute(
        "SELECT seq, kind, slug, payload, prev_hash, created_at, hash "
        "FROM ledger_entries ORDER BY seq"
    )
    prev, n = GENESIS, 0
    for n, (seq, kind, slug, payload_text, prev_hash, created_at, digest) in enumerate(cursor, 1):
        body = {
            "seq": seq,
            "kind": kind,
            "slug": slug,
            "payload": json.loads(payload_text),
            "prev_hash": prev_hash,
            "created_at": created_at,
        }
        calc = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        if not (seq == n and prev_hash == prev and digest == calc):
            raise RuntimeError(f"raw verify failed at {n}")
        prev = digest
    elapsed = time.perf_counter() - started
    conn.close()
    if n != expected:
        raise RuntimeError(f"raw verify saw {n} entries, expected {expected}")
    return elapsed


def _verify_parts(path: Path, count: int) -> dict[str, float]:
    """µs per entry of the pieces of verification, each over the whole chain."""
    from ledger.chain import _find_float, entry_hash, stream_entries
    from ledger.db import make_engine, reader

    out: dict[str, float] = {}
    conn = sqlite3.connect(str(path))
    sql = "SELECT seq, kind, slug, payload, prev_hash, created_at, hash FROM ledger_entries"
    started = time.perf_counter()
    rows = conn.execute(sql + " ORDER BY seq").fetchall()
    out["sqlite3 fetch"] = (time.perf_counter() - started) / count * 1e6
    conn.close()
    engine = make_engine("sqlite:///" + str(path))
    with reader(engine).connect() as sa_conn:
        started = time.perf_counter()
        for _ in stream_entries(sa_conn):
            pass
        out["SQLAlchemy stream_entries"] = (time.perf_counter() - started) / count * 1e6
    engine.dispose()
    started = time.perf_counter()
    payloads = [json.loads(row[3]) for row in rows]
    out["json.loads"] = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for p in payloads:
        _find_float(p)
    out["_find_float"] = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for row, p in zip(rows, payloads, strict=True):
        entry_hash(
            {
                "seq": row[0],
                "kind": row[1],
                "slug": row[2],
                "payload": p,
                "prev_hash": row[4],
                "created_at": row[5],
            }
        )
    out["entry_hash (dumps + sha256)"] = (time.perf_counter() - started) / count * 1e6
    return out


def run_verify(cfg: RunConfig) -> StageResult:
    result = StageResult("verify", "Verify the whole chain vs the README's bare check")
    sizes = cfg.pick((1_000, 10_000), (100_000, 1_000_000))
    template = Template()
    try:
        rows = []
        per_entry: dict[int, list[float]] = {}
        for size in sizes:
            path = template.fresh()
            build_s, _ = build_chain(path, size)
            result.details[f"build_{size}_s"] = build_s
            bot_rates, raw_rates = [], []
            for _ in range(cfg.rounds):
                raw_rates.append(size / raw_verify(path, size))
                bot_rates.append(size / bot_verify(path, size))
            per_entry[size] = [1e6 / rate for rate in bot_rates]
            rows.append(
                Row(
                    "verify",
                    f"ledger.chain.verify, {size:,} entries",
                    "entries/s",
                    bot_rates,
                    ceiling=raw_rates,
                    ceiling_label="bare json.dumps + sha256 loop, sqlite3",
                    target=VERIFY_TARGET,
                )
            )
            if size == sizes[0]:
                result.details["parts_us"] = _verify_parts(path, size)
            template.drop(path)
        small, large = sizes
        ratios = [b / a for a, b in zip(per_entry[small], per_entry[large], strict=True)]
        rows.append(
            Row(
                "verify",
                f"per-entry cost {large:,} ÷ {small:,}",
                "×",
                ratios,
                target=LINEAR_TARGET,
                digits=2,
            )
        )
        result.rows = rows
        parts = result.details["parts_us"]
        result.notes.append(
            f"Per entry at {small:,} (µs, each piece timed alone): "
            + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
            + ". Building the chains (generated and bulk-inserted, not timed as verify): "
            + ", ".join(f"{s:,} in {result.details[f'build_{s}_s']:.1f} s" for s in sizes)
            + ". The linearity target is this benchmark's own (the issue asks to show growth)."
        )
    finally:
        template.close()
    return result
