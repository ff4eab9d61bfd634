"""Stage "tlog": what the Merkle tree, the checkpoints and the monitor cost.

* Append with the tree vs without: ``ledger.chain.append`` (entry + tree nodes + frontier in
  the head, one transaction each) against the same statements without the tree (the append as
  it was before the tree: lock the head, INSERT the entry, UPDATE seq and hash), through the
  same engine, rounds alternating. On SQLite, and on PostgreSQL with --postgres.
* Inclusion proofs at 1,000,000 entries: ``ledger.tree.inclusion`` (one primary-key query for
  the ~20 nodes, then the path) for random entries; every proof is checked afterwards.
* Checkpoint signing: ``ledger.checkpoints.sign_head`` in its own transaction after each append
  (read the head, two roots, Ed25519, INSERT, COMMIT), and Ed25519 alone.
* Coverage latency: the checkpointer thread a worker runs, with entries appended at random
  intervals; for each entry, from its commit to the commit of the first checkpoint covering it.
* Monitor catch-up: ``ledgerbot monitor`` from an empty state against gunicorn serving the log
  (tiles, bundles, the JSON API), in entries/s, against ``ledgerbot verify`` on the same
  database (the ceiling: re-hashing the chain with no HTTP at all).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path

from bench.config import RunConfig
from bench.results import Row, StageResult, Target
from bench.stage_ledger import Template, bot_append, bot_append_url, payload

TREE_TARGET = Target("ratio>=", 0.75, "≥ 75% of the append without the tree")
PROOF_TARGET = Target("<=", 2.0, "p99 ≤ 2 ms")
COVER_TARGET = Target("<=", 1000.0, "p99 ≤ 1 s")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# -- append with and without the tree -----------------------------------------------------------


def plain_append(url: str, count: int) -> float:
    """The append without the tree, through the project's engine and statements."""
    from sqlalchemy import insert, select, update

    from ledger.chain import _hashed_row, timestamp
    from ledger.db import make_engine, session_factory, transaction
    from ledger.models import LedgerEntry, LedgerHead

    entries, head = LedgerEntry.__table__, LedgerHead.__table__
    lock = select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
    add, move = insert(entries), update(head).where(head.c.id == 1)
    engine = make_engine(url)
    sessions = session_factory(engine)

    def one(i: int) -> None:
        with transaction(sessions) as session:
            conn = session.connection()
            seq, prev = conn.execute(lock).one()
            row, _leaf = _hashed_row(seq + 1, "question", "semax", payload(i), prev, timestamp())
            conn.execute(add, [row])
            conn.execute(move, {"seq": seq + 1, "hash": row["hash"]})

    one(0)
    started = time.perf_counter()
    for i in range(1, count + 1):
        one(i)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


def _pg_url(base: str):
    from bench.harness import PostgresSchema
    from ledger.db import make_engine
    from ledger.migrate import upgrade

    schema = PostgresSchema(base)
    engine = make_engine(schema.url)
    upgrade(engine)
    engine.dispose()
    return schema


def append_rows(cfg: RunConfig) -> list[Row]:
    count = cfg.pick(100, 2_000)
    rows = []
    template = Template()
    try:
        for backend in cfg.backends:
            with_tree, without = [], []
            for _ in range(cfg.rounds):
                for rates, tree in ((without, False), (with_tree, True)):
                    if backend is None:
                        path = template.fresh()
                        url = "sqlite:///" + str(path)
                        rates.append(
                            bot_append(path, count, False) if tree else plain_append(url, count)
                        )
                        template.drop(path)
                    else:
                        schema = _pg_url(backend)
                        try:
                            rates.append(
                                bot_append_url(schema.url, count)
                                if tree
                                else plain_append(schema.url, count)
                            )
                        finally:
                            schema.drop()
            name = "SQLite" if backend is None else "PostgreSQL"
            rows.append(
                Row(
                    "tlog",
                    f"append with tree upkeep, one transaction each ({name})",
                    "entries/s",
                    with_tree,
                    ceiling=without,
                    ceiling_label="the same append without the tree",
                    target=TREE_TARGET,
                )
            )
    finally:
        template.close()
    return rows


# -- a large ledger with its tree ---------------------------------------------------------------


def build_ledger(path: Path, count: int) -> float:
    """Bulk-insert ``count`` valid entries and their tree (not timed as a result)."""
    import sqlite3

    from bench.stage_ledger import generate
    from ledger.chain import leaf_text
    from ledger.tlog.merkle import Frontier, leaf_hash

    started = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("BEGIN IMMEDIATE")
    frontier, entries, nodes, last = Frontier(), [], [], "0" * 64
    add_entries = (
        "INSERT INTO ledger_entries (seq, kind, slug, payload, prev_hash, created_at, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    add_nodes = "INSERT INTO ledger_tree (level, idx, hash) VALUES (?, ?, ?)"
    for row in generate(count):
        entries.append(row)
        nodes += frontier.append(leaf_hash(leaf_text(*row[:6]).encode()))
        last = row[6]
        if len(entries) == 20_000:
            conn.executemany(add_entries, entries)
            conn.executemany(add_nodes, nodes)
            entries, nodes = [], []
    conn.executemany(add_entries, entries)
    conn.executemany(add_nodes, nodes)
    conn.execute(
        "UPDATE ledger_head SET seq = ?, hash = ?, tree = ? WHERE id = 1",
        (count, last, frontier.to_bytes()),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def proof_rows(cfg: RunConfig, path: Path, size: int) -> tuple[list[Row], list[str]]:
    from ledger import tree
    from ledger.chain import leaf_bytes
    from ledger.db import make_engine, reader
    from ledger.models import LedgerEntry
    from ledger.tlog.merkle import leaf_hash, verify_inclusion

    engine = reader(make_engine("sqlite:///" + str(path)))
    rng = random.Random(13)
    samples = cfg.pick(200, 2_000)
    rounds: list[float] = []
    p99s: list[float] = []
    checked = 0
    with engine.connect() as conn:
        root = tree.root_at(conn, size)
        for _ in range(200):  # warm up: each path length's statement is compiled once
            tree.inclusion(conn, rng.randrange(size), size)
        for _ in range(cfg.rounds):
            times, made = [], []
            for _ in range(samples):
                index = rng.randrange(size)
                started = time.perf_counter()
                hashes = tree.inclusion(conn, index, size)
                times.append((time.perf_counter() - started) * 1000)
                made.append((index, hashes))
            rounds.append(statistics.median(times))
            p99s.append(_p99(times))
            for index, hashes in made[:200]:  # every proof made is a proof (a sample, untimed)
                row = conn.execute(
                    LedgerEntry.__table__.select().where(LedgerEntry.__table__.c.seq == index + 1)
                ).one()
                verify_inclusion(leaf_hash(leaf_bytes(row)), index, size, hashes, root)
                checked += 1
    engine.dispose()
    rows = [
        Row(
            "tlog",
            f"inclusion proof at {size:,} entries, p99",
            "ms",
            p99s,
            target=PROOF_TARGET,
            digits=3,
        ),
        Row("tlog", f"inclusion proof at {size:,} entries, median", "ms", rounds, digits=3),
    ]
    notes = [
        f"Inclusion proofs: {samples:,} random entries per round, one query each for the "
        f"~{2 * size.bit_length()} nodes a path needs; {checked} of them verified afterwards "
        "against the tree's root."
    ]
    return rows, notes


def signing_rows(cfg: RunConfig, path: Path) -> list[Row]:
    from bot.config import Settings
    from bot.ops.services import Services
    from ledger.chain import append
    from ledger.checkpoints import sign_head
    from ledger.db import make_engine, transaction

    engine = make_engine("sqlite:///" + str(path))
    services = Services(
        Settings.load({"instance_path": str(path.parent / "instance")}, env={}), engine=engine
    )
    key = services.log_key
    medians, signs = [], []
    for _ in range(cfg.rounds):
        times = []
        for i in range(cfg.pick(50, 200)):
            with transaction(services.sessions) as session:
                append(session, "question", "semax", payload(i))
            started = time.perf_counter()
            with transaction(services.sessions) as session:
                sign_head(session, key)
            times.append((time.perf_counter() - started) * 1000)
        medians.append(statistics.median(times))
        body = "example.org/log\n12345\n" + "A" * 43 + "=\n"
        started = time.perf_counter()
        for _ in range(1000):
            key.signer.sign(body)
        signs.append((time.perf_counter() - started) * 1000)  # µs per signature = ms per 1000
    engine.dispose()
    return [
        Row("tlog", "sign a checkpoint (own transaction, SQLite)", "ms", medians, digits=2),
        Row("tlog", "Ed25519 signature of a checkpoint body", "µs", signs, digits=0),
    ]


def coverage_rows(cfg: RunConfig, path: Path) -> list[Row]:
    """Entries appended at random intervals while the checkpointer runs, as in a worker."""
    from datetime import UTC

    from sqlalchemy import select

    from bot.config import Settings
    from bot.ops.services import Services
    from bot.worker import checkpointer
    from ledger.chain import append
    from ledger.db import make_engine, transaction
    from ledger.models import SignedCheckpoint

    engine = make_engine("sqlite:///" + str(path))
    services = Services(
        Settings.load({"instance_path": str(path.parent / "instance")}, env={}), engine=engine
    )
    rng = random.Random(5)
    p99s, worst = [], []
    for _ in range(cfg.rounds):
        stop = threading.Event()
        checkpointer.start(services, stop)
        committed: dict[int, float] = {}
        for i in range(cfg.pick(20, 100)):
            with transaction(services.sessions) as session:
                seq = append(session, "question", "semax", payload(i)).seq
            committed[seq] = time.time()
            time.sleep(rng.uniform(0, 0.05))
        time.sleep(1.5)
        stop.set()
        with services.read_sessions() as session:
            signed = [
                (size, at.replace(tzinfo=at.tzinfo or UTC).timestamp())
                for size, at in session.execute(
                    select(SignedCheckpoint.size, SignedCheckpoint.signed_at).order_by(
                        SignedCheckpoint.size
                    )
                )
            ]
        waits = []
        for seq, at in committed.items():
            covered = next(t for size, t in signed if size >= seq)
            waits.append(max(0.0, covered - at) * 1000)
        p99s.append(_p99(waits))
        worst.append(max(waits))
        time.sleep(checkpointer.CHECKPOINT_INTERVAL_S)  # the stopped thread's last wake-up
    engine.dispose()
    return [
        Row(
            "tlog", "append → covered by a signed checkpoint, p99", "ms", p99s, target=COVER_TARGET
        ),
        Row("tlog", "append → covered by a signed checkpoint, worst", "ms", worst),
    ]


def monitor_rows(cfg: RunConfig) -> tuple[list[Row], list[str]]:
    """The monitor catching up from nothing on a log gunicorn serves, against verify."""
    from bench.harness import Stack
    from bot.transparency.monitor import State, check_round
    from bot.transparency.remote import Remote
    from ledger.chain import verify
    from ledger.checkpoints import sign_head
    from ledger.db import reader, transaction

    size = cfg.pick(2_000, 100_000)
    rates, ceiling = [], []
    with Stack(demo=False) as stack:
        path = Path(stack.database_url.removeprefix("sqlite:///"))
        build_ledger(path, size)
        services = stack.services
        with transaction(services.sessions) as session:
            sign_head(session, services.log_key)
        stack.start_gunicorn(config="python:bot.web.gunicorn_conf", worker_class="gthread")
        url = stack.public_url
        for _ in range(cfg.rounds):
            started = time.perf_counter()
            outcome = check_round(Remote(url), State(services.log_key.vkey))
            rates.append(outcome.new_size / (time.perf_counter() - started))
            if outcome.new_size != size:
                raise RuntimeError(f"the monitor verified {outcome.new_size} of {size} entries")
            started = time.perf_counter()
            with reader(services.engine).connect() as conn:
                checked = verify(conn).checked
            ceiling.append(checked / (time.perf_counter() - started))
    rows = [
        Row(
            "tlog",
            f"monitor catch-up from empty, {size:,} entries over HTTP",
            "entries/s",
            rates,
            ceiling=ceiling,
            ceiling_label="ledgerbot verify on the same database (no HTTP)",
        )
    ]
    notes = [
        "Monitor catch-up: `check_round` from an empty state (signature, every entry bundle "
        "and level-0 tile, re-hashing into the frontier, the JSON API cross-check, upper "
        "tiles) against gunicorn with bot/web/gunicorn_conf.py serving the same SQLite file; "
        "the monitor and the server share this machine's two cores."
    ]
    return rows, notes


def run(cfg: RunConfig) -> StageResult:
    result = StageResult("tlog", "Transparency log: tree upkeep, proofs, checkpoints, monitor")
    result.rows += append_rows(cfg)
    template = Template()
    try:
        size = cfg.pick(5_000, 1_000_000)
        path = template.fresh()
        built = build_ledger(path, size)
        rows, notes = proof_rows(cfg, path, size)
        result.rows += rows
        result.notes += notes
        result.rows += signing_rows(cfg, path)
        template.drop(path)
        result.rows += coverage_rows(cfg, template.fresh())
        rows, notes = monitor_rows(cfg)
        result.rows += rows
        result.notes += notes
        result.notes.append(
            f"The {size:,}-entry ledger (entries and tree) was bulk-built in {built:.0f} s "
            "for the proof rows; not a measured result."
        )
    finally:
        template.close()
    return result
