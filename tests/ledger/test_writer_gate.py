"""SQLite's writers take turns at the writer gate (ledger/writer_gate.py): one at a time across
processes and threads, let go at COMMIT and ROLLBACK, never left shut by a killed process, and
a wait that runs out fails as SQLite's own busy timeout does."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ledger.db import make_engine
from ledger.writer_gate import WriterGate, gate_path


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (who TEXT, at REAL)"))
    return engine


def _hold(path: str, seconds: float, ready) -> None:
    """In another process: take the gate, say so, then hold it (or be killed holding it)."""
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES ('other', 0)"))
        ready.set()
        time.sleep(seconds)


def test_writers_take_turns_across_threads_and_the_gate_opens_at_commit(tmp_path):
    engine = _engine(tmp_path)
    inside, overlaps = [], []

    def write(who: str) -> None:
        for _ in range(20):
            with engine.begin() as conn:
                if inside:
                    overlaps.append(who)
                inside.append(who)
                conn.execute(text("INSERT INTO t VALUES (:who, 0)"), {"who": who})
                time.sleep(0.001)
                inside.remove(who)

    threads = [threading.Thread(target=write, args=(f"w{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 60
    assert engine.pool_gate._held == {}  # every transaction let it go


def test_a_rollback_opens_the_gate(tmp_path):
    engine = _engine(tmp_path)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES ('rolled back', 0)"))
        raise RuntimeError("a handler bug")
    assert engine.pool_gate._held == {}
    with engine.begin() as conn:  # would wait out the timeout if the gate had stayed shut
        conn.execute(text("INSERT INTO t VALUES ('next', 0)"))


def test_a_killed_holder_leaves_the_gate_open(tmp_path):
    engine = _engine(tmp_path)
    ready = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold, args=(str(tmp_path / "gate.sqlite3"), 60, ready)
    )
    holder.start()
    assert ready.wait(30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    started = time.monotonic()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES ('after the kill', 0)"))
    assert time.monotonic() - started < 5  # the kernel dropped the dead process's flock


def test_a_wait_that_runs_out_fails_like_a_busy_database(tmp_path):
    engine = _engine(tmp_path)
    gate = WriterGate(gate_path(str(tmp_path / "gate.sqlite3")), timeout_s=0.2)
    with engine.begin():  # this connection holds the gate
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            gate.acquire(object())
        assert 0.2 <= time.monotonic() - started < 2


def test_no_gate_for_an_in_memory_database():
    assert gate_path(":memory:") is None
    assert gate_path("file:x?mode=memory&cache=shared") is None
    assert gate_path(None) is None
    assert gate_path("/srv/ledgerbot/bot.sqlite3") == "/srv/ledgerbot/bot.sqlite3-writers.lock"
