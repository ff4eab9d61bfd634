"""The ``ledgerbot`` command: run, migrate, verify, import, and talk to the bot locally."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import click
from sqlalchemy import func, select

from bot.config import Settings
from bot.services import Services, install


def _services(ctx: click.Context) -> Services:
    if ctx.obj is None:
        ctx.obj = install(Services(Settings.load()))
    return ctx.obj


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ledgerbot: a Twilio SMS/WhatsApp bot in front of a public evidence ledger."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations."""
    from ledger.migrate import current_revision, upgrade

    services = _services(ctx.parent)
    upgrade(services.engine)
    click.echo(f"database at revision {current_revision(services.engine)}")


@cli.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute every hash and link of the ledger; exit 1 if the chain is broken."""
    from ledger.chain import verify as verify_chain
    from ledger.db import reader
    from ledger.models import LedgerEntry

    services = _services(ctx)
    with reader(services.engine).connect() as conn:
        total = conn.scalar(select(func.count()).select_from(LedgerEntry))
        if sys.stdout.isatty() and total:
            with click.progressbar(length=total, label="verifying") as bar:
                result = verify_chain(conn, on_entry=lambda _seq: bar.update(1))
        else:
            result = verify_chain(conn)
    if result.ok:
        click.echo(f"ok: {result.checked} entries, head seq {result.head_seq} {result.head_hash}")
        return
    click.echo(
        f"BROKEN at seq {result.bad_seq}: {result.reason} ({result.checked} entries checked)",
        err=True,
    )
    sys.exit(1)


@cli.command("import-article")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Override the slug derived from the title.")
@click.pass_context
def import_article_command(ctx: click.Context, path: str, slug: str | None) -> None:
    """Load an article file (the format of the published articles) into the ledger."""
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article

    services = _services(ctx)
    record = parse_article(Path(path).read_text(encoding="utf-8"), slug=slug)
    with transaction(services.sessions) as session:
        report = import_article(session, record)
    click.echo(
        f"{report.slug}: {report.entries_added} new ledger entries "
        f"({report.sources_added} sources, {report.claims_added} claims"
        f"{', new article' if report.article_created else ''})"
    )


@cli.command()
@click.option("--burst", is_flag=True, help="Drain the queue, then exit.")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run one RQ worker with its scheduler and the sweeper."""
    from bot import logs
    from bot.worker_runtime import run_worker

    services = _services(ctx)
    logs.configure_for(services)
    run_worker(services, burst=burst)


@cli.command()
@click.pass_context
def sweep(ctx: click.Context) -> None:
    """Queue stored work that was never processed (after a Redis outage, say)."""
    from bot.sweeper import sweep as run_sweep

    report = run_sweep(_services(ctx))
    click.echo(str(report))


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check configuration, database, Redis, queue and ledger; exit 1 if anything FAILs."""
    from bot import doctor as doctor_module
    from ledger.db import make_engine

    if ctx.obj is None:
        settings = Settings.load()
        url = settings.resolved_database_url()
        # Don't hang on an unreachable database server: a doctor should answer quickly.
        engine = make_engine(
            url, connect_args={"connect_timeout": 5} if url.startswith("postgres") else {}
        )
        ctx.obj = install(Services(settings, engine=engine))
    checks = doctor_module.run(ctx.obj)
    for check in checks:
        click.secho(
            check.line(),
            fg={"OK": "green", "WARN": "yellow", "FAIL": "red"}[check.status],
        )
    fails = sum(check.status == "FAIL" for check in checks)
    warns = sum(check.status == "WARN" for check in checks)
    click.echo(f"{len(checks)} checks: {fails} FAIL, {warns} WARN")
    if fails:
        sys.exit(1)


def load_demo_if_empty(services: Services) -> bool:
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import import_article
    from ledger.models import Article

    with transaction(services.sessions) as session:
        if session.scalar(select(func.count()).select_from(Article)):
            return False
        text = (Path(__file__).parent / "demo" / "semax-demo.txt").read_text(encoding="utf-8")
        import_article(session, parse_article(text))
    return True


@cli.command()
@click.option("--port", default=5000, show_default=True)
@click.option("--web-workers", default=2, show_default=True)
@click.pass_context
def up(ctx: click.Context, port: int, web_workers: int) -> None:
    """Everything on this machine: database, Redis, web server and a worker, until Ctrl-C."""
    from bot import redis_embedded
    from ledger.migrate import upgrade

    settings = Settings.load()
    services = _services(ctx)
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    upgrade(services.engine)
    if load_demo_if_empty(services):
        click.echo("loaded the demo article (semax)")
    env = dict(os.environ, INSTANCE_PATH=str(Path(settings.instance_path).resolve()))
    embedded = None
    if not settings.redis_url:
        embedded, started = redis_embedded.ensure(settings.instance_path)
        env["REDIS_URL"] = embedded.url
        click.echo(f"{'started' if started else 'using'} embedded redis-server on {embedded.url}")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    # Children read the same instance secrets; make sure they exist before they race for them.
    services.secret_key, services.webhook_auth_token  # noqa: B018
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(web_workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "bot.wsgi:app",
            ],
            env=env,
        ),
        subprocess.Popen([sys.executable, "-m", "worker"], env=env),
    ]
    click.echo(
        f"ledgerbot is up: webhook {env['PUBLIC_URL']}/twilio/messages"
        f"{'' if settings.twilio_configured else ' (dev mode: replies are logged, not sent)'}\n"
        f'try: ledgerbot text --from +15551234567 "semax|does it raise BDNF in people?"\n'
        "Ctrl-C stops everything."
    )
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
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.stop()
        click.echo("stopped")


def signed_post(url: str, params: dict[str, str], auth_token: str) -> int:
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(auth_token).compute_signature(url, params)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@cli.command()
@click.option("--from", "from_", required=True, help="The sender, e.g. +15551234567.")
@click.option("--to", default=None, help="The bot's number (default TWILIO_SMS_FROM).")
@click.option("--whatsapp", is_flag=True, help="Send as a WhatsApp message.")
@click.option("--url", default=None, help="Base URL of the bot (default PUBLIC_URL).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for replies.")
@click.argument("message")
@click.pass_context
def text(ctx, from_, to, whatsapp, url, wait, message) -> None:
    """Send MESSAGE to the running bot as Twilio would, then print the replies."""
    from bot.addresses import format_address, parse_address
    from bot.models import OutboundMessage

    services = _services(ctx)
    settings = services.settings
    channel = "whatsapp" if whatsapp else "sms"
    _, number = parse_address(from_)
    bot_number = to or settings.twilio_whatsapp_from or settings.twilio_sms_from or "+15005550006"
    _, bot_number = parse_address(bot_number)
    base = (url or settings.public_url or "http://127.0.0.1:5000").rstrip("/")
    with services.read_sessions() as session:
        last_seen = session.scalar(select(func.max(OutboundMessage.id))) or 0
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": format_address(channel, number),
        "To": format_address(channel, bot_number),
        "Body": message,
        "NumMedia": "0",
    }
    status = signed_post(base + "/twilio/messages", params, services.webhook_auth_token)
    if status != 200:
        raise click.ClickException(f"the bot answered HTTP {status}")
    deadline, replies, quiet_since = time.monotonic() + wait, [], None
    while time.monotonic() < deadline:
        with services.read_sessions() as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.id > last_seen, OutboundMessage.to_number == number)
                .where(OutboundMessage.status.not_in(["pending", "sending"]))
                .order_by(OutboundMessage.id)
            ).all()
        if len(rows) > len(replies):
            replies, quiet_since = rows, time.monotonic()
        elif replies and time.monotonic() - quiet_since > 0.5:
            break
        time.sleep(0.1)
    if not replies:
        click.echo("(no reply)")
    for reply in replies:
        click.echo(f"[{reply.status}] {reply.body}")


@cli.group()
def moderators() -> None:
    """Who may moderate: phone numbers (besides MODERATOR_NUMBERS) and web accounts."""


@moderators.command("add")
@click.argument("who")
@click.option("--web", is_flag=True, help="WHO is a web login name; asks for a password.")
@click.option("--password", default=None, help="For scripts; prompted for when omitted.")
@click.pass_context
def moderators_add(ctx: click.Context, who: str, web: bool, password: str | None) -> None:
    from bot.addresses import AddressError, mask, parse_address
    from bot.models import Moderator
    from bot.moderators import add_web_moderator
    from ledger.db import transaction

    services = _services(ctx.find_root())
    with transaction(services.sessions) as session:
        if web:
            if password is None:
                password = click.prompt("password", hide_input=True, confirmation_prompt=True)
            if len(password) < 12:
                raise click.ClickException("use a password of at least 12 characters")
            add_web_moderator(session, who, password)
            click.echo(f"web moderator {who} added")
            return
        try:
            _, number = parse_address(who)
        except AddressError as exc:
            raise click.ClickException(f"{who}: {exc}") from exc
        moderator = session.scalar(select(Moderator).where(Moderator.number == number))
        if moderator is None:
            session.add(Moderator(kind="phone", number=number))
        else:
            moderator.active = True
        click.echo(f"moderator {mask(number)} added")


@moderators.command("remove")
@click.argument("who")
@click.pass_context
def moderators_remove(ctx: click.Context, who: str) -> None:
    from bot.models import Moderator
    from ledger.db import transaction

    services = _services(ctx.find_root())
    with transaction(services.sessions) as session:
        moderator = session.scalar(
            select(Moderator).where((Moderator.number == who) | (Moderator.username == who))
        )
        if moderator is None:
            raise click.ClickException(f"no moderator {who}")
        moderator.active = False
    click.echo(f"{who} removed")


@moderators.command("list")
@click.pass_context
def moderators_list(ctx: click.Context) -> None:
    from bot.addresses import mask
    from bot.models import Moderator

    services = _services(ctx.find_root())
    for number in services.settings.moderator_numbers:
        click.echo(f"phone {mask(number)} (MODERATOR_NUMBERS)")
    with services.read_sessions() as session:
        for moderator in session.scalars(select(Moderator).where(Moderator.active.is_(True))):
            name = moderator.username if moderator.kind == "web" else mask(moderator.number)
            click.echo(f"{moderator.kind} {name}")


if __name__ == "__main__":
    cli()
