"""``ledgerbot doctor``: check a deployment's configuration and state, and say what to fix.

Each check gives OK, WARN (works, but look at it) or FAIL (broken: the command exits 1).
Nothing here changes anything, starts a Redis server or creates a database file, and
secrets are never printed — only whether they are set and well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.messaging.addresses import AddressError, parse_address
from bot.ops import logs
from ledger.db import reader

OK, WARN, FAIL = "OK", "WARN", "FAIL"
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
LOG_FORMATS = ("text", "json")
# The checks that need the database, in order.
DATABASE_CHECKS = ("migrations", "outbound messages", "inbound messages", "ledger chain")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}"


def _worst(statuses: list[str]) -> str:
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK


def _production(settings) -> bool:
    return settings.twilio_configured


# --------------------------------------------------------------------------- configuration


def check_twilio_credentials(settings) -> Check:
    name = "twilio credentials"
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if not sid and not token:
        return Check(
            name,
            WARN,
            "dev mode: replies are logged, not sent; set TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN (Twilio console, Account info) to send",
        )
    problems: list[tuple[str, str]] = []
    if not sid:
        problems.append(
            (
                WARN,
                "TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not: signatures are "
                "checked but replies are only logged; set TWILIO_ACCOUNT_SID to send",
            )
        )
    elif not ACCOUNT_SID.fullmatch(sid):
        problems.append(
            (
                FAIL,
                "TWILIO_ACCOUNT_SID is not 'AC' followed by 32 hex digits; copy the Account "
                "SID from the Twilio console (not an API key SK… or a message SID)",
            )
        )
    if not token:
        problems.append(
            (
                FAIL,
                "TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not: replies cannot be "
                "sent and webhooks are checked against a local token; set TWILIO_AUTH_TOKEN",
            )
        )
    elif not AUTH_TOKEN.fullmatch(token):
        problems.append(
            (
                FAIL,
                f"TWILIO_AUTH_TOKEN is not 32 hex digits (it has {len(token)} characters); "
                "copy the Auth Token from the Twilio console, without quotes or spaces",
            )
        )
    if not problems:
        return Check(name, OK, f"account {sid[:6]}…, auth token set (32 hex digits)")
    return Check(name, _worst([s for s, _ in problems]), "; ".join(d for _, d in problems))


def check_senders(settings) -> Check:
    name = "sender numbers"
    problems: list[str] = []
    sms, whatsapp = settings.twilio_sms_from, settings.twilio_whatsapp_from
    if sms:
        try:
            channel, _ = parse_address(sms)
        except AddressError:
            channel = None
        if channel != "sms":
            problems.append(f"TWILIO_SMS_FROM={sms!r} is not an E.164 number like +15005550006")
    if whatsapp:
        try:
            parse_address(whatsapp)
        except AddressError:
            problems.append(f"TWILIO_WHATSAPP_FROM={whatsapp!r} is not like whatsapp:+14155238886")
    bad_moderators = 0
    for number in settings.moderator_numbers:
        try:
            parse_address(number)
        except AddressError:
            bad_moderators += 1
    if bad_moderators:
        problems.append(
            f"MODERATOR_NUMBERS has {bad_moderators} entries that are not E.164 numbers "
            "(+ and digits, comma-separated), so they never match a sender"
        )
    if problems:
        return Check(name, FAIL, "; ".join(problems))
    parts = [
        f"SMS from {sms}" if sms else "SMS from the number written to",
        f"WhatsApp from {whatsapp}" if whatsapp else "WhatsApp from the number written to",
    ]
    if settings.moderator_numbers:
        parts.append(f"{len(settings.moderator_numbers)} moderator numbers")
    return Check(name, OK, ", ".join(parts))


def check_public_url(settings) -> Check:
    name = "PUBLIC_URL"
    url = settings.public_url
    production = _production(settings)
    if not url:
        if production:
            return Check(
                name,
                FAIL,
                "unset: no delivery status callbacks, and signatures depend on the proxy's "
                "X-Forwarded-* headers; set it to the external https:// base URL",
            )
        return Check(name, WARN, "unset: fine on one machine; set it to the external https:// URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        return Check(name, FAIL, f"{url!r} is not an absolute URL like https://bot.example.org")
    if parts.query or parts.fragment:
        return Check(name, FAIL, "must not have a query or fragment; use the bare base URL")
    if host in LOCAL_HOSTS:
        return Check(
            name,
            WARN,
            f"{url} is this machine only: Twilio cannot reach it; use the external https:// URL",
        )
    if parts.scheme != "https":
        return Check(
            name,
            FAIL if production else WARN,
            "not https: Twilio's signatures and moderator logins would travel in the clear; "
            "terminate TLS in front of the bot and use https://",
        )
    if parts.path not in ("", "/"):
        return Check(
            name,
            WARN,
            f"has a path ({parts.path}); webhooks are signed for {url.rstrip('/')}/twilio/… "
            "so the proxy must strip that prefix",
        )
    return Check(name, OK, f"{url} (webhook {url.rstrip('/')}/twilio/messages)")


def check_secret_key(settings) -> Check:
    name = "SECRET_KEY"
    if not settings.secret_key:
        generated = Path(settings.instance_path) / "secret_key"
        where = f"generated in {generated}" if generated.exists() else "will be generated"
        return Check(
            name,
            WARN,
            f"unset ({where}): pseudonyms and sessions depend on it, so set SECRET_KEY on every "
            "machine and never change it",
        )
    if len(settings.secret_key) < 32:
        return Check(
            name,
            WARN,
            f"only {len(settings.secret_key)} characters; use at least 32 random ones "
            "(python -c 'import secrets; print(secrets.token_hex(32))') before going live — "
            "changing it later changes every pseudonym",
        )
    return Check(name, OK, "set")


def check_log_format(settings) -> Check:
    if settings.log_format.lower() in LOG_FORMATS:
        return Check("LOG_FORMAT", OK, settings.log_format)
    return Check(
        "LOG_FORMAT", WARN, f"{settings.log_format!r} is unknown, logging as text; use text or json"
    )


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
    return checks


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


# --------------------------------------------------------------------------- all of it


def _guard(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = check()
    except Exception as exc:
        reason = logs.redact(str(exc).splitlines()[0] if str(exc) else "")[:200]
        return [Check(name, FAIL, f"could not check ({type(exc).__name__}: {reason})")]
    return result if isinstance(result, list) else [result]


def _not_checked(names: tuple[str, ...], why: str) -> list[Check]:
    return [Check(name, WARN, f"not checked: {why}") for name in names]


def run(services) -> list[Check]:
    settings = services.settings
    checks = [
        check_twilio_credentials(settings),
        check_senders(settings),
        check_public_url(settings),
        check_secret_key(settings),
        check_log_format(settings),
    ]
    database = _guard("database", lambda: check_database(services))
    checks += database
    if database[0].status == OK:
        migrations = _guard("migrations", lambda: check_migrations(services))
        checks += migrations
        if migrations[0].status == OK:
            checks += _guard("outbound messages", lambda: check_messages(services))
            checks += _guard("ledger chain", lambda: check_chain(services))
        else:
            checks += _not_checked(DATABASE_CHECKS[1:], "migrations are not current")
    else:
        checks += _not_checked(DATABASE_CHECKS, "the database is unreachable")
    redis_check, client = check_redis(services)
    checks.append(redis_check)
    if client is not None:
        checks += _guard("queue", lambda: check_failed_jobs(services, client))
    else:
        checks.append(Check("queue", WARN, "not checked: Redis is unreachable"))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(check.status == FAIL for check in checks)
