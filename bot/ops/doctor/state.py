"""Checks of what the deployment holds: database, migrations, messages, chain, Redis, queue."""

from __future__ import annotations

from pathlib import Path

import redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.ops.doctor.checks import FAIL, OK, WARN, Check
from ledger.db import reader

# --------------------------------------------------------------------------- database


def _database_label(settings) -> str:
    try:
        return make_url(settings.resolved_database_url()).render_as_string(hide_password=True)
    except Exception:
        return "DATABASE_URL (unparseable)"


def _missing_sqlite_file(settings) -> Path | None:
    """SQLite creates a missing file on connect; a doctor must not, so look first."""
    try:
        url = make_url(settings.resolved_database_url())
    except Exception:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path


def check_database(services) -> Check:
    name = "database"
    settings = services.settings
    label = _database_label(settings)
    missing = _missing_sqlite_file(settings)
    if missing is not None:
        return Check(name, FAIL, f"{missing} does not exist; run `ledgerbot db upgrade`")
    try:
        with reader(services.engine).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Check(
            name,
            FAIL,
            f"cannot connect to {label} ({type(exc).__name__}); check DATABASE_URL and that "
            "the server is up",
        )
    return Check(name, OK, f"reachable ({label})")


def check_migrations(services) -> Check:
    from ledger.migrate import current_revision, head_revision

    current, head = current_revision(reader(services.engine)), head_revision()
    if current == head:
        return Check("migrations", OK, f"at head ({head})")
    return Check(
        "migrations",
        FAIL,
        f"database at {current or 'no revision'}, code expects {head}; run `ledgerbot db upgrade`",
    )


def check_messages(services) -> list[Check]:
    from bot.messaging.models import InboundMessage, OutboundMessage

    with services.read_sessions() as session:
        outbound = dict(
            session.execute(
                select(OutboundMessage.status, func.count())
                .where(OutboundMessage.status.in_(["failed", "unknown", "not_sent"]))
                .group_by(OutboundMessage.status)
            ).all()
        )
        inbound_failed = session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.status == "failed")
        )
    failed, unknown = outbound.get("failed", 0), outbound.get("unknown", 0)
    not_sent = outbound.get("not_sent", 0)
    checks = []
    if failed or unknown:
        checks.append(
            Check(
                "outbound messages",
                WARN,
                f"{failed} failed, {unknown} unknown (send never confirmed), {not_sent} not sent; "
                "see status and error_message in outbound_messages (unknown: check the Twilio "
                "console's message log to see whether they arrived)",
            )
        )
    else:
        extra = f"; {not_sent} not sent (outside WhatsApp's 24-hour window)" if not_sent else ""
        checks.append(Check("outbound messages", OK, f"none failed or unknown{extra}"))
    if inbound_failed:
        checks.append(
            Check(
                "inbound messages",
                WARN,
                f"{inbound_failed} given up after repeated failures; find them with status "
                "'failed' in inbound_messages and the worker logs for their MessageSid",
            )
        )
    else:
        checks.append(Check("inbound messages", OK, "none given up"))
    checks.append(_twilio_copies(services))
    return checks


def _twilio_copies(services) -> Check:
    """Twilio's copies of inbound files that should have been deleted (bot.worker.media)."""
    from datetime import UTC, datetime, timedelta

    from bot.messaging.models import TwilioMedia

    cutoff = datetime.now(UTC) - timedelta(hours=1)
    with services.read_sessions() as session:
        late, last_error = session.execute(
            select(func.count(), func.max(TwilioMedia.last_error)).where(
                TwilioMedia.status == "pending", TwilioMedia.created_at < cutoff
            )
        ).one()
    if late:
        return Check(
            "twilio media",
            WARN,
            f"{late} inbound file(s) still on Twilio after an hour (deletes keep failing"
            f"{': ' + last_error[:120] if last_error else ''}); the sweeper keeps retrying — "
            "check TWILIO_AUTH_TOKEN and the worker logs",
        )
    return Check("twilio media", OK, "no inbound file left on Twilio past an hour")


def check_chain(services) -> Check:
    from ledger.chain import verify

    with reader(services.engine).connect() as conn:
        result = verify(conn)
    if result.ok:
        return Check(
            "ledger chain", OK, f"{result.checked} entries verify, head seq {result.head_seq}"
        )
    return Check(
        "ledger chain",
        FAIL,
        f"BROKEN at seq {result.bad_seq}: {result.reason}; run `ledgerbot verify` and restore "
        "the ledger from a backup or a public copy — do not append to a broken chain",
    )


# --------------------------------------------------------------------------- redis


def _redis_client(services):
    """The configured Redis, or the running embedded one; never starts a server."""
    from bot.ops import redis_embedded

    settings = services.settings
    if settings.redis_url:
        return services.redis, None
    server = redis_embedded.find_running(settings.instance_path)
    if server is None:
        return None, (
            "REDIS_URL is unset and the embedded redis-server is not running; start the bot "
            "(`ledgerbot up`) or set REDIS_URL"
        )
    return redis.Redis.from_url(server.url, socket_connect_timeout=2, socket_timeout=5), None


def check_redis(services) -> tuple[Check, redis.Redis | None]:
    name = "redis"
    try:
        client, problem = _redis_client(services)
    except Exception as exc:
        return Check(name, FAIL, f"cannot use REDIS_URL ({type(exc).__name__})"), None
    if client is None:
        return Check(name, FAIL, problem or "unavailable"), None
    try:
        client.ping()
    except Exception as exc:
        return (
            Check(
                name,
                FAIL,
                f"cannot reach it ({type(exc).__name__}); check REDIS_URL and that redis-server "
                "is running",
            ),
            None,
        )
    where = "REDIS_URL" if services.settings.redis_url else "embedded redis-server (one machine)"
    return Check(name, OK, f"reachable ({where})"), client


def check_failed_jobs(services, client: redis.Redis) -> Check:
    from rq import Queue
    from rq.registry import FailedJobRegistry

    queue = Queue(services.settings.queue_name, connection=client)
    failed = client.zcard(FailedJobRegistry(queue=queue).key)
    queued = client.llen(queue.key)
    if failed:
        return Check(
            "queue",
            WARN,
            f"{failed} jobs in the failed registry of {queue.name!r} ({queued} queued); see why "
            f"with `rq info --url $REDIS_URL {queue.name}` and the worker logs for their job "
            f"ids, then `rq requeue --url $REDIS_URL --queue {queue.name} --serializer "
            "rq.serializers.JSONSerializer --all` once the cause is fixed",
        )
    return Check("queue", OK, f"{queued} queued, none failed")
