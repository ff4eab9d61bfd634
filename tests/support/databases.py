"""Test databases: a fresh, migrated SQLite file or PostgreSQL schema for every test.

SQLite: one migrated template per session, copied per test (milliseconds).
PostgreSQL (TEST_DATABASE_URL): one schema per session named in the URL's search_path, so
several processes (the concurrency tests) reach the same tables by URL alone; between
tests every table is truncated with triggers off (the ledger refuses TRUNCATE otherwise).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, text

from ledger.db import make_engine, normalize_url
from ledger.migrate import upgrade
from ledger.models import Base

GENESIS = "0" * 64


class SqliteDatabases:
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.sqlite3"
        engine = make_engine("sqlite:///" + str(self.template))
        upgrade(engine)
        engine.dispose()

    def fresh_url(self, tmp_path: Path) -> str:
        target = tmp_path / f"db-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(self.template, target)
        return "sqlite:///" + str(target)

    def close(self) -> None:
        pass


class PostgresDatabases:
    name = "postgresql"

    def __init__(self, base_url: str) -> None:
        self.base_url = normalize_url(base_url)
        self.schema = f"lbtest_{uuid.uuid4().hex[:10]}"
        admin = make_engine(self.base_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        separator = "&" if "?" in self.base_url else "?"
        self.url = f"{self.base_url}{separator}options={quote('-csearch_path=' + self.schema)}"
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()

    def fresh_url(self, tmp_path: Path) -> str:
        engine = make_engine(self.url)
        reset(engine)
        engine.dispose()
        return self.url

    def close(self) -> None:
        admin = make_engine(self.base_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        admin.dispose()


def reset(engine: Engine) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": GENESIS}
        )
