"""Shared fixtures: real databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
a real Redis (REDIS_URL, or the embedded redis-server), and a real HTTP Twilio stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis as redis_lib

import bot.messaging.models  # register every table
import bot.moderation.models  # noqa: F401
from bot.ops import metrics, redis_embedded
from bot.ops.services import Services
from bot.web.app import create_app
from ledger.db import make_engine
from tests.support.databases import PostgresDatabases, SqliteDatabases
from tests.support.processes import served
from tests.support.settings import ACCOUNT_SID, AUTH_TOKEN, make_settings
from tests.support.twilio_server import TwilioStandIn

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session")
def _sqlite_dbs(tmp_path_factory) -> Iterator[SqliteDatabases]:
    yield SqliteDatabases(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def _postgres_dbs() -> Iterator[PostgresDatabases | None]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    dbs = PostgresDatabases(url)
    yield dbs
    dbs.close()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, _sqlite_dbs, _postgres_dbs) -> str:
    """A freshly migrated, empty database: once on SQLite, once on PostgreSQL."""
    dbs = _sqlite_dbs if request.param == "sqlite" else _postgres_dbs
    return dbs.fresh_url(tmp_path)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = redis_embedded.start(str(tmp_path_factory.mktemp("redis")))
    yield server.url
    server.stop()


@pytest.fixture
def redis_conn(redis_url) -> Iterator[redis_lib.Redis]:
    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="session")
def _twilio_session() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def twilio(_twilio_session) -> Iterator[TwilioStandIn]:
    _twilio_session.clear()
    yield _twilio_session
    _twilio_session.clear()


@pytest.fixture
def settings_overrides() -> dict:
    """Override in a test module to change settings for its services."""
    return {}


@pytest.fixture
def services(tmp_path, database_url, redis_url, redis_conn, twilio, settings_overrides):
    settings = make_settings(tmp_path, database_url, redis_url, twilio.url, **settings_overrides)
    services = Services(settings)
    yield services
    # Metrics recorded in the last quarter second wait in this process (bot.ops.metrics
    # COALESCE_S); written now, they cannot land in the next test's freshly flushed Redis.
    metrics.flush(services)
    services.close()


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real HTTP port (werkzeug, threaded)."""
    with served(app) as url:
        yield url
