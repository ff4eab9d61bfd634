"""Several OS processes appending at once must produce one unbroken chain.

Each process has its own engine and connections (as gunicorn workers and RQ workers do) and
appends in its own transaction per entry, all released by one barrier so that they really
contend for the head.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections import Counter

import pytest
from sqlalchemy import text

from ledger.chain import append, verify
from ledger.db import make_engine, reader, session_factory, transaction

PROCESSES = 4
PER_PROCESS = 250
START_TIMEOUT_S = 60
JOIN_TIMEOUT_S = 120


def appender(url: str, worker: int, count: int, barrier, spans) -> None:
    """Runs in a spawned child: connect first, wait for the others, then append."""
    engine = make_engine(url)
    factory = session_factory(engine)
    with engine.connect():  # open the pooled connection before the race starts
        pass
    barrier.wait(timeout=START_TIMEOUT_S)
    first_try = time.time()
    for i in range(count):
        with transaction(factory) as session:
            append(session, "load", f"worker-{worker}", {"worker": worker, "i": i})
    spans.put((worker, first_try, time.time()))
    engine.dispose()


def run_appenders(url: str, processes: int, per_process: int, during=None):
    """Start the appenders together; call ``during()`` repeatedly until they finish.

    Returns the wall time from the start signal to the last exit, and for every process
    when it first tried to append and when its last append committed (wall clock).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    spans = context.Queue()
    children = [
        context.Process(target=appender, args=(url, worker, per_process, barrier, spans))
        for worker in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=START_TIMEOUT_S)
        started = time.monotonic()
        if during is not None:
            while any(child.is_alive() for child in children):
                during()
        for child in children:
            child.join(timeout=JOIN_TIMEOUT_S)
        elapsed = time.monotonic() - started
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join()
    assert [child.exitcode for child in children] == [0] * processes
    reported = {worker: (a, b) for worker, a, b in (spans.get() for _ in children)}
    return elapsed, reported


@pytest.mark.slow
def test_concurrent_processes_build_one_unbroken_chain(database_url, engine, independent_check):
    elapsed, spans = run_appenders(database_url, PROCESSES, PER_PROCESS)
    total = PROCESSES * PER_PROCESS

    rows = independent_check(engine)
    assert [row["seq"] for row in rows] == list(range(1, total + 1))
    seen = Counter((row["payload"]["worker"], row["payload"]["i"]) for row in rows)
    expected = {(worker, i) for worker in range(PROCESSES) for i in range(PER_PROCESS)}
    assert set(seen) == expected
    assert max(seen.values()) == 1
    for worker in range(PROCESSES):  # each process's own entries are in its own order
        mine = [row["payload"]["i"] for row in rows if row["payload"]["worker"] == worker]
        assert mine == list(range(PER_PROCESS))
    with engine.connect() as conn:
        result = verify(conn)
    assert result.ok, result
    assert result.checked == total and result.head_seq == total

    # They contended: every process was already trying to append before any had finished.
    assert max(first for first, _ in spans.values()) < min(last for _, last in spans.values())
    switches = sum(a["slug"] != b["slug"] for a, b in itertools.pairwise(rows))
    print(  # shown with -s
        f"\n[{engine.dialect.name}] {PROCESSES}x{PER_PROCESS} concurrent appends:"
        f" {elapsed:.2f}s, {switches} switches between processes in the chain"
    )


@pytest.mark.slow
def test_verify_during_concurrent_appends_never_reports_a_false_break(database_url, engine):
    """A reader verifying a live ledger must not mistake a fresh append for tampering."""
    results = []

    def check() -> None:
        with reader(engine).connect() as conn:
            results.append(verify(conn))

    run_appenders(database_url, 2, 150, during=check)
    with engine.connect() as conn:
        results.append(verify(conn))

    broken = [result for result in results if not result.ok]
    assert not broken, f"{len(broken)} of {len(results)} runs: {broken[0]}"
    assert len(results) > 2
    assert results[-1].checked == 300


def test_payloads_survive_the_trip_through_a_child_process(database_url, engine):
    """The fixture URL alone is enough for another process to reach the same database."""
    run_appenders(database_url, 1, 3)
    with engine.connect() as conn:
        stored = conn.scalars(text("SELECT payload FROM ledger_entries ORDER BY seq")).all()
        conn.rollback()
    assert [json.loads(payload) for payload in stored] == [{"worker": 0, "i": i} for i in range(3)]
