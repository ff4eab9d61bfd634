"""SQLite's writers take turns at a gate that wakes the next one as soon as the lock is free.

SQLite allows one writer at a time. A second ``BEGIN IMMEDIATE`` waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries: a writer
that finds the lock taken sleeps on well past its release. With two workers handling
messages in batches (each transaction tens of milliseconds) and the webhook's short inserts,
the lock stood idle while both waiters slept: 2 workers drained 188 messages/s where 1 drained
166 (bench/results.md, the worker stage), and 2 processes holding the lock 5 ms in turn took
1.5 s for what ideally takes 1.0 s (measured on the 2-core machine with the busy handler).

So every writing transaction of this project's engines first takes an exclusive ``flock`` on
a file beside the database (``<database>-writers.lock``), tried with a back-off from 50 µs
capped at 1 ms, and lets it go as soon as its COMMIT or ROLLBACK returns. ``BEGIN IMMEDIATE``
then almost never waits, and when it does (a writer outside this project, the sqlite3 shell)
SQLite's own busy_timeout still applies. The kernel drops a dead process's flock, so a
SIGKILLed worker never leaves the gate shut. A lock taken for a connection is one file
descriptor of its own, so threads of one process take turns as processes do. The wait has
the same bound as SQLite's busy_timeout, after which the transaction fails as it would have.

Why not a library: ``filelock`` polls at 50 ms by default (the very delay removed here), and
``fasteners``' process lock is the same flock with a sleep loop; the gate is these few lines.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import time

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

FIRST_WAIT_S = 0.00005
LONGEST_WAIT_S = 0.001


class WriterGate:
    """An exclusive flock per writing transaction, keyed by the DBAPI connection holding it."""

    def __init__(self, path: str, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._held: dict[int, int] = {}
        self._broken = False

    def acquire(self, dbapi_connection) -> None:
        key = _key(dbapi_connection)
        if self._broken or key in self._held:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:  # a read-only folder: SQLite's own busy handler still serves
            self._broken = True
            log.warning("no writer gate at %s (%s); SQLite's busy handler only", self.path, exc)
            return
        try:
            self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self._held[key] = fd

    def _wait(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        pause = FIRST_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() >= deadline:  # what BEGIN IMMEDIATE raises after busy_timeout
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                )
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_WAIT_S)

    def release(self, dbapi_connection) -> None:
        fd = self._held.pop(_key(dbapi_connection), None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops its flock


def _key(connection) -> int:
    """The DBAPI connection's identity, whether given it or the pool's proxy of it (which
    the dialect's do_commit and do_rollback are handed)."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def gate_path(database: str | None) -> str | None:
    """The gate's file for an SQLite database path; None for in-memory databases."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return f"{database}-writers.lock"


def install(engine, timeout_s: float) -> None:
    """Gate every writing transaction of ``engine`` (an SQLite engine from ``ledger.db``)."""
    path = gate_path(engine.url.database)
    if path is None:
        return
    gate = WriterGate(path, timeout_s)
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection):
        try:
            commit(dbapi_connection)
        finally:
            gate.release(dbapi_connection)

    def do_rollback(dbapi_connection):
        try:
            rollback(dbapi_connection)
        finally:
            gate.release(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback
    engine.pool_gate = gate  # for _on_begin and the pool's close events
    for name in ("close", "close_detached", "invalidate", "soft_invalidate"):
        event.listen(engine, name, _releaser(gate, name))


def _releaser(gate: WriterGate, name: str):
    if name == "close_detached":
        return lambda dbapi_connection: gate.release(dbapi_connection)
    return lambda dbapi_connection, *_: gate.release(dbapi_connection)
