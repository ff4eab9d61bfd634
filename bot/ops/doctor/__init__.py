"""``ledgerbot doctor``: check a deployment's configuration and state, and say what to fix.

Each check gives OK, WARN (works, but look at it) or FAIL (broken: the command exits 1).
Nothing here changes anything, starts a Redis server or creates a database file, and
secrets are never printed — only whether they are set and well-formed.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.ops import logs
from bot.ops.doctor.checks import DATABASE_CHECKS, FAIL, OK, WARN, Check
from bot.ops.doctor.configuration import (
    check_dev_phone,
    check_log_format,
    check_media_dir,
    check_public_url,
    check_secret_key,
    check_senders,
    check_twilio_credentials,
)
from bot.ops.doctor.state import (
    check_chain,
    check_database,
    check_failed_jobs,
    check_messages,
    check_migrations,
    check_redis,
)
from bot.ops.doctor.transparency import check_ledger_key, check_tree

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
        check_dev_phone(settings),
        check_media_dir(settings),
    ]
    # A corrupt key file is a FAIL line, not a crashed doctor.
    checks[4:4] = _guard("LEDGER_SIGNING_KEY", lambda: check_ledger_key(settings))
    database = _guard("database", lambda: check_database(services))
    checks += database
    if database[0].status == OK:
        migrations = _guard("migrations", lambda: check_migrations(services))
        checks += migrations
        if migrations[0].status == OK:
            checks += _guard("outbound messages", lambda: check_messages(services))
            checks += _guard("ledger chain", lambda: check_chain(services))
            checks += _guard("ledger tree", lambda: check_tree(services))
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
