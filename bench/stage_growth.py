"""Stage "growth": the webhook, the worker and verify on a grown database against a fresh one.

Issue #16 asks that a deployment which has been used for a long while stay as fast as a new
one: at 1,000,000 ledger entries, 100 articles and 100,000 contacts, the webhook, the worker
and verify within 20% of the same stages on a fresh database. So each figure here has the same
measurement on a fresh database as its ceiling, taken in the same run, rounds alternating
(fresh first, then grown first, ...) so that other load on the shared machine falls on both.

Two stacks run side by side (bench.harness.Stack: own Redis, Twilio stand-in, database): the
fresh one with the demo article under ``semax`` as every stage has it, the grown one built by
bench/growth_build.py (not timed; its build time is in the notes). The three measurements are
the other stages' own functions, unchanged:

* webhook: gunicorn with stage_webhook's arguments, bench/loadgen.py's closed loop with its
  concurrency and duration, every 200 checked against a stored row;
* worker: stage_worker's ``_prepare_messages`` (``semax|…`` questions from new numbers),
  ``drain`` (2 worker processes, burst mode, one start signal) and ``_check_round``;
* verify: ``ledger.chain.verify`` over the stack's engine, as ``ledgerbot verify`` runs it; on
  the fresh chain (a few hundred entries) it is repeated until 0.5 s have passed, so a single
  call's fixed cost is not what is measured.
"""

from __future__ import annotations

import time
import uuid

from bench import growth_build, loadgen
from bench.config import RunConfig
from bench.harness import WEBHOOK_PATH, Stack
from bench.results import Row, StageResult, Target, run_per_backend
from bench.stage_webhook import CONCURRENCY, _components, _count_inbound, _gunicorn_args, _requests
from bench.stage_worker import WORKERS, _check_round, _phases, _prepare_messages, drain

TARGET = Target("ratio>=", 0.80, "within 20% of fresh")
CEILING = "same stage, fresh database"
FULL = {"entries": 1_000_000, "articles": 100, "contacts": 100_000}
QUICK = {"entries": 20_000, "articles": 5, "contacts": 2_000}
VERIFY_MIN_S = 0.5
METHOD = (
    "bench/stage_growth.py: two stacks side by side, one fresh (demo article) and one bulk-"
    "built (bench/growth_build.py: 1,000,000 ledger entries with their Merkle tree, 100 "
    "articles through the importer, 100,000 contacts with a question node each; not timed); "
    "on each, the webhook closed loop (stage_webhook's gunicorn, 8 connections, 8 s), the "
    "worker drain (stage_worker's 1,000 messages, 2 workers) and `ledger.chain.verify`, "
    "rounds alternating which database goes first. Ceiling: the same stage on the fresh one."
)
BOUND_NOTE = (
    "A growth target missed: the timers above (worker phases, webhook components or verify's "
    "parts, each on both databases) say which part of the work grew with the database."
)


class _Side:
    """One stack (fresh or grown) with its gunicorn, and where its request ids stand."""

    def __init__(self, name: str, stack: Stack, cfg: RunConfig) -> None:
        self.name, self.stack, self.offset = name, stack, 0
        self.gunicorn, self.port = stack.start_gunicorn(**_gunicorn_args(cfg))
        warm = _requests(stack, 200, self._take(200))
        loadgen.closed_loop("127.0.0.1", self.port, WEBHOOK_PATH, warm, concurrency=4, duration_s=5)
        stack.flush_redis()

    def _take(self, count: int) -> int:
        self.offset += count
        return self.offset - count


def _webhook(side: _Side, cfg: RunConfig, notes: list[str]) -> float:
    """stage_webhook's closed loop on one side; every 200 must be a stored row."""
    count = cfg.pick(6_000, 24_000)
    requests = _requests(side.stack, count, side._take(count))
    before = _count_inbound(side.stack)
    measured = loadgen.closed_loop(
        "127.0.0.1",
        side.port,
        WEBHOOK_PATH,
        requests,
        concurrency=CONCURRENCY,
        duration_s=cfg.pick(1.5, 8.0),
    )
    stored = _count_inbound(side.stack) - before
    side.stack.flush_redis()
    if stored != measured.ok:
        notes.append(f"{side.name} webhook: {measured.ok} answered 200, {stored} rows stored")
    return measured.rate


def _worker(side: _Side, cfg: RunConfig, notes: list[str]) -> float:
    """stage_worker's drain on one side: messages handled, appended and answered per second."""
    count = cfg.pick(100, 1_000)
    ids = _prepare_messages(side.stack, count, f"g{uuid.uuid4().hex[:8]}")
    sent_before = len(side.stack.standin.messages)
    measured = drain(side.stack)
    check = _check_round(side.stack, ids, sent_before)
    expected = {"done": count, "sent": count, "recorded_at_standin": count}
    if check != expected or not 0 < measured["jobs"] <= count or measured["failed"]:
        notes.append(
            f"{side.name} worker: expected {count} messages done, sent and recorded, got "
            f"{check}, jobs {measured['jobs']}, failed {measured['failed']}"
        )
    return count / measured["seconds"]


def _verify(side: _Side, cfg: RunConfig, notes: list[str]) -> float:
    """``ledger.chain.verify`` entries/s, repeated until VERIFY_MIN_S for a short chain."""
    from ledger.chain import verify
    from ledger.db import reader

    engine = reader(side.stack.services.engine)
    checked, started = 0, time.perf_counter()
    while True:
        with engine.connect() as conn:
            outcome = verify(conn)
        if not outcome.ok:
            raise RuntimeError(f"{side.name} chain does not verify: {outcome}")
        checked += outcome.checked
        elapsed = time.perf_counter() - started
        if elapsed >= VERIFY_MIN_S:
            return checked / elapsed


MEASURES = (
    ("webhook", f"webhook closed loop, {CONCURRENCY} connections", "req/s", _webhook),
    ("worker", f"worker messages/s end to end, {WORKERS} workers", "msg/s", _worker),
    ("verify", "ledger.chain.verify, whole chain", "entries/s", _verify),
)


def run_backend(cfg: RunConfig, postgres_url: str | None) -> tuple[list[Row], list[str], dict]:
    backend = "postgresql" if postgres_url else "sqlite"
    sizes = cfg.pick(QUICK, FULL)
    notes: list[str] = []
    values = {name: {"fresh": [], "grown": []} for name, *_ in MEASURES}
    with Stack(postgres_url=postgres_url) as fresh, Stack(postgres_url, demo=False) as grown:
        built = growth_build.build(grown, **sizes)
        sides = [_Side("fresh", fresh, cfg), _Side("grown", grown, cfg)]
        for round_no in range(cfg.rounds):
            order = sides if round_no % 2 == 0 else sides[::-1]
            for name, _label, _unit, measure in MEASURES:
                for side in order:
                    values[name][side.name].append(measure(side, cfg, notes))
        rows = [
            Row(
                "growth",
                f"growth {backend}: {label}, grown database",
                unit,
                values[name]["grown"],
                ceiling=values[name]["fresh"],
                ceiling_label=CEILING,
                target=TARGET,
                details={"stage": name},
            )
            for name, label, unit, _ in MEASURES
        ]
        notes.append(_sizes_note(backend, built, growth_build.sizes(fresh)))
        missed = {row.details["stage"] for row in rows if row.passed is False}
        if missed and cfg.profile:
            notes += _bounds(cfg, backend, missed, sides)
    details = {"backend": backend, "build": built, "values": values}
    return rows, notes, details


def _sizes_note(backend: str, built: dict, fresh_sizes: dict) -> str:
    grown = ", ".join(f"{v:,} {k}" for k, v in built["sizes"].items())
    small = ", ".join(f"{v:,} {k}" for k, v in fresh_sizes.items())
    steps = built["build_s"]
    return (
        f"{backend}: grown database bulk-built in {sum(steps.values()):.0f} s (chain and tree "
        f"{steps['chain']:.1f} s, articles through the importer {steps['articles']:.1f} s, "
        f"contacts and question nodes {steps['contacts']:.1f} s; not a measured result); at "
        f"the end of the build it held {grown}. The fresh database after the rounds: {small} "
        "(the demo article and what the rounds added)."
    )


def _bounds(cfg: RunConfig, backend: str, missed: set[str], sides: list[_Side]) -> list[str]:
    """For each missed target, the same timers on both databases, to name what grew."""
    notes = []
    for side in sides:
        if "worker" in missed:
            text = _phases(side.stack, cfg.pick(50, 300))
            notes.append(f"{backend}, {side.name} database, worker: {text}")
        if "webhook" in missed:
            parts = _components(side.stack, cfg.pick(200, 1000))
            notes.append(
                f"{backend}, {side.name} database, webhook parts timed alone (µs per call): "
                + ", ".join(f"{k} {v:,.0f}" for k, v in parts.items())
            )
        if "verify" in missed and backend == "sqlite":
            from bench.stage_ledger import _verify_parts

            path = side.stack.database_url.removeprefix("sqlite:///")
            count = growth_build.sizes(side.stack)["ledger entries"]
            parts = _verify_parts(path, count)
            notes.append(
                f"{backend}, {side.name} database, verify parts (µs per entry, each over the "
                "whole chain): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
            )
    return notes


def run(cfg: RunConfig) -> StageResult:
    result = StageResult(
        "growth", "Growth: webhook, worker and verify on a grown database vs a fresh one"
    )
    return run_per_backend(cfg, result, run_backend, BOUND_NOTE)
