"""The process's connections: database, Redis, queue and Twilio client, built lazily.

Nothing here opens a connection when constructed, so building an app or importing a job
module never touches the network. Jobs running in a worker reach the same object through
:func:`current`, installed once per process before any job runs.
"""

from __future__ import annotations

import logging
from functools import cached_property

import redis
from flask import current_app, has_app_context
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings, instance_secret
from bot.ops import redis_embedded
from ledger.checkpoints import LogKey
from ledger.db import make_engine, reader, session_factory
from ledger.tlog.notes import Signer, generate_signing_key

log = logging.getLogger(__name__)


def key_name(origin: str) -> str:
    """A signed-note key name for an origin (names allow no '+' and no whitespace)."""
    return "".join(
        "-" if ch == "+" or not ch.isprintable() or ch.isspace() else ch for ch in origin
    )


class Services:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self._settings = settings
        self._engine = engine

    @property
    def settings(self) -> Settings:
        return self._settings

    @cached_property
    def secret_key(self) -> str:
        return self._settings.secret_key or instance_secret(
            self._settings.instance_path, "secret_key"
        )

    @cached_property
    def webhook_auth_token(self) -> str:
        """Twilio's auth token, or a local one so that signatures are checked in dev mode too."""
        return self._settings.twilio_auth_token or instance_secret(
            self._settings.instance_path, "dev_auth_token", 16
        )

    @cached_property
    def log_key(self) -> LogKey:
        """The ledger's signing key (LEDGER_SIGNING_KEY, else one generated for this instance)
        and its origin line. Every checkpoint is signed with it; monitors pin its vkey."""
        origin = self._settings.log_origin
        skey = self._settings.ledger_signing_key or instance_secret(
            self._settings.instance_path,
            "ledger_signing_key",
            make=lambda: generate_signing_key(key_name(origin)),
        )
        return LogKey(Signer.from_skey(skey), origin)

    @cached_property
    def engine(self) -> Engine:
        return self._engine or make_engine(self._settings.resolved_database_url())

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        return session_factory(reader(self.engine))

    @cached_property
    def redis_url(self) -> str:
        if self._settings.redis_url:
            return self._settings.redis_url
        server, started = redis_embedded.ensure(self._settings.instance_path)
        if started:
            log.info("started embedded redis-server on port %s", server.port)
        return server.url

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )

    @cached_property
    def queue(self) -> Queue:
        return Queue(self._settings.queue_name, connection=self.redis, serializer=JSONSerializer)

    @cached_property
    def twilio(self):
        """The official client pointed at TWILIO_API_URL, or None in dev mode."""
        if not self._settings.twilio_configured:
            return None
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        client = Client(
            self._settings.twilio_account_sid,
            self._settings.twilio_auth_token,
            http_client=TwilioHttpClient(timeout=self._settings.twilio_timeout_s),
        )
        client.api.base_url = self._settings.twilio_api_url.rstrip("/")
        return client

    def close(self) -> None:
        if "engine" in self.__dict__ and self._engine is None:
            self.engine.dispose()
        if "redis" in self.__dict__:
            self.redis.close()


_current: Services | None = None
EXTENSION = "ledgerbot"


def install(services: Services) -> Services:
    """Make ``services`` this process's own (the app factory and the CLI call this)."""
    global _current
    _current = services
    return services


def current() -> Services:
    """The one way web views and jobs reach the services.

    Inside a request it is the app's own (several apps can live in one process, as in the
    tests); elsewhere — a job, a command — the process's, built from the environment on
    first use in a worker.
    """
    global _current
    if has_app_context():
        found = current_app.extensions.get(EXTENSION)
        if found is not None:
            return found
    if _current is None:
        _current = Services(Settings.load())
    return _current
