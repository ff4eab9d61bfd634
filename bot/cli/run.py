"""``ledgerbot up``, ``worker`` and ``sweep``: running the bot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from bot.catalogue.demo import load_demo_if_empty
from bot.cli.common import load_settings, services_of


@click.command()
@click.option("--burst", is_flag=True, help="Drain the queue, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run one RQ worker with its scheduler and the sweeper."""
    from bot.ops import logs
    from bot.worker.runtime import run_worker

    services = services_of(ctx)
    logs.configure_for(services)
    run_worker(services, burst=burst)


@click.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Queue stored work that was never processed (after a Redis outage, say)."""
    from bot.worker.sweeper import sweep as run_sweep

    report = run_sweep(services_of(ctx))
    click.echo(str(report))


@click.command()
@click.option("--port", default=5000, show_default=True)
@click.option("--web-workers", default=2, show_default=True)
@click.pass_context
def up(ctx: click.Context, port: int, web_workers: int) -> None:
    """Everything on this machine: database, Redis, web server and a worker, until Ctrl-C."""
    settings = load_settings()
    services = services_of(ctx)
    _prepare_database(settings, services)
    env = dict(os.environ, INSTANCE_PATH=str(Path(settings.instance_path).resolve()))
    embedded = _embedded_redis(settings, env)
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    # Children read the same instance secrets; make sure they exist before they race for them.
    services.secret_key, services.webhook_auth_token  # noqa: B018
    children = _start_children(env, port, web_workers)
    try:
        click.echo(
            f"ledgerbot is up: webhook {env['PUBLIC_URL']}/twilio/messages"
            f"{'' if settings.twilio_configured else ' (dev mode: replies are logged, not sent)'}"
            '\ntry: ledgerbot text --from +15551234567 "semax|does it raise BDNF in people?"\n'
            "Ctrl-C stops everything."
        )
        _wait_for_stop(children)
    finally:
        _stop_children(children)
        if embedded is not None:
            embedded.stop()
        click.echo("stopped")


def _prepare_database(settings, services) -> None:
    """Migrate, and give a newcomer something to ask about."""
    from ledger.migrate import upgrade

    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    upgrade(services.engine)
    if load_demo_if_empty(services.sessions):
        click.echo("loaded the demo article (semax)")


def _embedded_redis(settings, env: dict[str, str]):
    """Without REDIS_URL, the embedded server, started once here and handed to the children.

    Returns it only if this command started it (and so must stop it): one found running
    belongs to whoever started it. The URL carries the server's password, so it goes into
    the children's environment (readable only by this user) and is never printed.
    """
    from bot.ops import redis_embedded

    if settings.redis_url:
        return None
    server, started = redis_embedded.ensure(settings.instance_path)
    env["REDIS_URL"] = server.url
    password = Path(settings.instance_path) / redis_embedded.PASSWORD_FILE
    click.echo(
        f"{'started' if started else 'using'} embedded redis-server on {server.address} "
        f"(password in {password})"
    )
    return server if started else None


def _start_children(env: dict[str, str], port: int, web_workers: int) -> list[subprocess.Popen]:
    web = [sys.executable, "-m", "gunicorn", "--workers", str(web_workers)]
    web += ["--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "bot.web.wsgi:app"]
    return [
        subprocess.Popen(web, env=env),
        subprocess.Popen([sys.executable, "-m", "worker"], env=env),
    ]


def _wait_for_stop(children: list[subprocess.Popen]) -> None:
    """Until Ctrl-C, SIGTERM, or a child exiting on its own."""
    stopping = False

    def stop(_signum=None, _frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
