"""``ledgerbot witness serve`` and ``witness vkey``: run a C2SP tlog-witness for other logs.

``serve`` runs under gunicorn, not werkzeug's threaded server: a witness is a public endpoint,
and gunicorn with the project's own settings (``bot.web.gunicorn_conf``: gthread workers with a
read deadline, bodies read whole and capped before the app runs, a heartbeat that replaces a
stuck worker) survives slow and hostile clients that werkzeug's development server does not.
It also runs several worker processes, which is safe because the witness's compare-and-swap
lives in its database, not in process memory (``bot.transparency.witness``). The table is
created once here, before gunicorn forks; each worker opens its own engine after the fork.

    ledgerbot witness serve --log 'log.example+1a2b3c4d+AX...' --log 'other.org=name+...'
    ledgerbot witness vkey     # what logs put in WITNESS_KEYS

The witness's key is WITNESS_SIGNING_KEY, else one generated once into the instance folder
(file ``witness_signing_key``) and named ``--name`` (default ``<PUBLIC_URL host>/witness``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from bot.cli.common import load_settings

if TYPE_CHECKING:
    from flask import Flask
    from gunicorn.app.base import BaseApplication

    from ledger.tlog.notes import CosignatureSigner

_NAME = click.option(
    "--name",
    default=None,
    help="Key name when generating the witness key (default: <PUBLIC_URL host>/witness).",
)
# Taken from bot.web.gunicorn_conf, whose docstring says why each is what it is.
_GUNICORN_SETTINGS = (
    "worker_class",
    "threads",
    "worker_connections",
    "keepalive",
    "timeout",
    "graceful_timeout",
    "control_socket_disable",
)


def _signer(name: str | None) -> CosignatureSigner:
    from bot.transparency.witness import witness_signer
    from ledger.tlog.notes import NoteError

    try:
        return witness_signer(load_settings(), name)
    except NoteError as exc:
        raise click.ClickException(f"witness key: {exc}") from None


@click.group()
def witness() -> None:
    """A transparency-log witness (c2sp.org/tlog-witness) that cosigns other logs."""


@witness.command("vkey")
@_NAME
def vkey(name: str | None) -> None:
    """Print the witness's verifier key (name+id+key): what logs list in WITNESS_KEYS."""
    click.echo(_signer(name).vkey)


@witness.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5050, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    help="A log to witness: VKEY (origin = key name) or ORIGIN=VKEY. Repeat for more.",
)
@click.option("--db", "db_url", default=None, help="Database URL (default: SQLite in instance).")
@_NAME
def serve(
    host: str, port: int, workers: int, logs: tuple[str, ...], db_url: str | None, name: str | None
) -> None:
    """Serve POST /add-checkpoint (and GET /<origin hash>/checkpoint) until stopped."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.ops import logs as log_setup
    from bot.transparency.witness import (
        Witness,
        WitnessStore,
        create_app,
        default_db_url,
        trusted_logs,
    )
    from ledger.db import make_engine

    try:
        trusted = trusted_logs(logs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log") from None
    signer, settings = _signer(name), load_settings()
    url = db_url or default_db_url(settings)
    try:
        log_setup.configure(settings.log_format == "json", secrets=[make_url(url).password])
        engine = make_engine(url)
        WitnessStore(engine).create()
        engine.dispose()  # nothing open across the fork
    except SQLAlchemyError as exc:  # the driver's message: names the server, not the password
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip()
        raise click.ClickException(f"witness database: {reason}") from None

    def make_app() -> Flask:
        return create_app(Witness(signer, trusted, WitnessStore(make_engine(url))))

    click.echo(f"witness {signer.vkey} on http://{host}:{port} for {', '.join(trusted)}")
    _gunicorn(make_app, {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-"}).run()


def _gunicorn(make_app: Callable[[], Flask], options: dict) -> BaseApplication:
    """gunicorn in this process, configured from code (no argv parsing, no config file)."""
    from gunicorn.app.base import BaseApplication

    from bot.web import gunicorn_conf

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key in _GUNICORN_SETTINGS:
                self.cfg.set(key, getattr(gunicorn_conf, key))
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return make_app()  # in each worker, after the fork

    return Server()
