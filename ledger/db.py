"""Engines and sessions for SQLite (the default) and PostgreSQL.

SQLite needs help to be safe under several processes: pysqlite's own transaction handling
starts transactions lazily and in DEFERRED mode, so two writers can both read the ledger head
and then fail to upgrade their locks. We take transaction control back from the driver and
start every writing transaction with ``BEGIN IMMEDIATE``, which takes the write lock up front
and makes the second writer wait (``busy_timeout``) instead of failing.
Read-only work (public pages, verification) uses :func:`reader`, which starts a plain
``BEGIN`` so that it never waits for writers (WAL lets readers see the last commit).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ledger import writer_gate

SQLITE_BUSY_TIMEOUT_S = 30


def normalize_url(url: str) -> str:
    """Map the usual ``postgres://`` spellings onto the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs) -> Engine:
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that Twilio was told about survives a power cut, not just a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    writer_gate.install(engine, SQLITE_BUSY_TIMEOUT_S)
    gate = getattr(engine, "pool_gate", None)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            if gate is not None:  # writers take turns without SQLite's sleeps (writer_gate)
                gate.acquire(conn.connection.dbapi_connection)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def reader(engine: Engine) -> Engine:
    """An engine view whose transactions never take SQLite's write lock."""
    return engine.execution_options(readonly=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit once at the end, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def insert_ignoring_conflicts(session: Session | Connection, table, values: dict):
    """INSERT … ON CONFLICT DO NOTHING on either database; returns the new id or None.

    Used where a retry or a concurrent duplicate must be a no-op, not an error that aborts
    the surrounding transaction (PostgreSQL cannot continue a transaction after one). The
    statement is built once per table and dialect: it runs on every webhook (which passes a
    Core connection: no ORM session is needed to store one row).
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    statement = _insert_ignoring(bind.dialect.name, table)
    return session.execute(statement, values).scalar_one_or_none()


@functools.cache
def _insert_ignoring(dialect: str, table):
    return ignoring_conflicts(dialect, table).returning(table.c.id)


@functools.cache
def ignoring_conflicts(dialect: str, table):
    """``INSERT … ON CONFLICT DO NOTHING`` for ``table`` on either database, built once."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert(table).on_conflict_do_nothing()
