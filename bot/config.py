"""All configuration, read from the environment in one place (see the README's table).

Tests and tools pass overrides to ``Settings.load``; nothing else reads ``os.environ``.
``load`` checks every value and refuses to start on a bad one, naming the variable and what
it allows: a typo in production must stop the process, not quietly turn a limit off.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.messaging.addresses import AddressError, format_address, mask, parse_address
from ledger.tlog.notes import CosignatureSigner, Signer, Verifier

DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
DEFAULT_INSTANCE = Path.cwd() / "instance"
PREFIX = "LEDGERBOT_"
QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the variable and the rule."""


def _split_numbers(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    instance_path: str = str(DEFAULT_INSTANCE)
    database_url: str | None = None
    redis_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_whatsapp_template_sid: str | None = None
    twilio_api_url: str = DEFAULT_TWILIO_API_URL
    twilio_timeout_s: float = 10.0
    public_url: str | None = None
    moderator_numbers: tuple[str, ...] = ()
    secret_key: str | None = None
    queue_name: str = "ledgerbot"
    max_segments: int = 3
    rate_limit_count: int = 20
    rate_limit_window_s: int = 600
    log_format: str = "text"
    trusted_proxies: int = 0
    ledger_signing_key: str | None = None
    ledger_origin: str | None = None
    witness_urls: tuple[str, ...] = ()
    witness_keys: tuple[str, ...] = ()
    witness_signing_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Environment first, then overrides (keys in either ``UPPER`` or ``lower`` case).

        ``LEDGERBOT_NAME`` wins over ``NAME`` when both are set: the prefixed spelling exists
        for hosts where the short name means something else. Raises ConfigError.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)} - {"extra"}
        for name in names:
            for variable in (PREFIX + name.upper(), name.upper()):
                if env.get(variable) not in (None, ""):
                    values[name] = (variable, env[variable])
                    break
        extra: dict[str, Any] = {}
        for key, value in (overrides or {}).items():
            if key.lower() in names:
                values[key.lower()] = (key.upper(), value)
            else:
                extra[key] = value
        checked = {name: _check(name, variable, raw) for name, (variable, raw) in values.items()}
        return cls(extra=extra, **checked)

    @property
    def twilio_configured(self) -> bool:
        """Without an account SID replies are kept in the outbox and logged (dev mode)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def default_database_url(self) -> str:
        return "sqlite:///" + str(Path(self.instance_path).resolve() / "ledgerbot.sqlite3")

    def resolved_database_url(self) -> str:
        return self.database_url or self.default_database_url

    @property
    def public_https(self) -> bool:
        """PUBLIC_URL is https (parsed: ``HTTPS://`` is https too): HSTS, Secure cookies."""
        return bool(self.public_url) and urlsplit(self.public_url).scheme.lower() == "https"

    @property
    def log_origin(self) -> str:
        """The checkpoint origin line: LEDGER_ORIGIN, else PUBLIC_URL's host (and path)."""
        if self.ledger_origin:
            return self.ledger_origin
        if not self.public_url:
            return "localhost"
        parts = urlsplit(self.public_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.hostname}{port}{parts.path.rstrip('/')}"

    def redis_key(self, *parts: str) -> str:
        """Every Redis key of this deployment: ``ledgerbot:<QUEUE_NAME>:…``.

        Two deployments sharing one Redis (different QUEUE_NAMEs) never share a rate limit, a
        login throttle, the sweep lock or a metric.
        """
        return ":".join(("ledgerbot", self.queue_name, *parts))


# --------------------------------------------------------------------------- validation


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError
        value = raw if isinstance(raw, int) else int(str(raw).strip(), 10)
        if not low <= value <= high:
            raise ValueError
        return value

    parse.allowed = f"a whole number from {low} to {high}"  # type: ignore[attr-defined]
    return parse


def _number(low: float, high: float) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        value = float(raw)
        if not low <= value <= high:  # also refuses nan
            raise ValueError
        return value

    parse.allowed = f"a number of seconds from {low:g} to {high:g}"  # type: ignore[attr-defined]
    return parse


def _url(*schemes: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip()
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            raise ValueError
        # SQLite files, unix sockets and PostgreSQL over its local socket have no host.
        if scheme.startswith(("sqlite", "postgres")) or scheme == "unix":
            return value
        if not parts.hostname:
            raise ValueError
        return value

    parse.allowed = "a URL starting " + " or ".join(f"{s}://" for s in schemes)  # type: ignore[attr-defined]
    return parse


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise ValueError
        return value

    parse.allowed = "one of " + ", ".join(options)  # type: ignore[attr-defined]
    return parse


def _address(channel: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        got, number = parse_address(str(raw))
        if got != channel:
            raise ValueError
        return format_address(channel, number)  # what Twilio expects: whatsapp:+14155238886

    example = "+15005550006" if channel == "sms" else "whatsapp:+14155238886"
    parse.allowed = f"a number like {example}"  # type: ignore[attr-defined]
    return parse


def _numbers(raw: Any) -> tuple[str, ...]:
    """E.164 numbers: a moderator is a number, whichever channel (or spelling) it writes from."""
    items = _split_numbers(raw) if isinstance(raw, str) else tuple(raw)
    return tuple(dict.fromkeys(parse_address(item)[1] for item in items))


_numbers.allowed = "comma-separated E.164 numbers like +15551234567"  # type: ignore[attr-defined]


def _queue_name(raw: Any) -> str:
    value = str(raw).strip()
    if not QUEUE_NAME.fullmatch(value):
        raise ValueError
    return value


_queue_name.allowed = "1 to 64 letters, digits, '.', '_' or '-'"  # type: ignore[attr-defined]


def _note_key(kind) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip()
        kind.from_skey(value)  # NoteError is a ValueError
        return value

    parse.allowed = "a signed-note private key, PRIVATE+KEY+<name>+<id>+<key> (see the README)"  # type: ignore[attr-defined]
    return parse


def _origin(raw: Any) -> str:
    """A checkpoint's first line: printable, no leading or trailing space (tlog-checkpoint)."""
    value = str(raw)
    if not 0 < len(value) <= 255 or value != value.strip() or not value.isprintable():
        raise ValueError
    return value


_origin.allowed = "1 to 255 printable characters, like ledger.example.org"  # type: ignore[attr-defined]


def _urls(raw: Any) -> tuple[str, ...]:
    parse = _url("http", "https")
    items = _split_numbers(raw) if isinstance(raw, str) else tuple(raw)
    return tuple(dict.fromkeys(parse(item).rstrip("/") for item in items))


_urls.allowed = "comma-separated URLs starting http:// or https://"  # type: ignore[attr-defined]


def _vkeys(raw: Any) -> tuple[str, ...]:
    items = _split_numbers(raw) if isinstance(raw, str) else tuple(raw)
    for item in items:
        Verifier.from_vkey(item)
    return tuple(dict.fromkeys(items))


_vkeys.allowed = "comma-separated verifier keys, <name>+<id>+<key>"  # type: ignore[attr-defined]


PARSERS: dict[str, Callable[[Any], Any]] = {
    "database_url": _url(
        "sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg"
    ),
    "redis_url": _url("redis", "rediss", "unix"),
    "twilio_api_url": _url("http", "https"),
    "public_url": _url("http", "https"),
    "twilio_timeout_s": _number(0.1, 300),
    "twilio_sms_from": _address("sms"),
    "twilio_whatsapp_from": _address("whatsapp"),
    "moderator_numbers": _numbers,
    "queue_name": _queue_name,
    "max_segments": _integer(1, 10),
    "rate_limit_count": _integer(1, 1_000_000),
    "rate_limit_window_s": _integer(1, 7 * 24 * 3600),
    "log_format": _choice("text", "json"),
    "trusted_proxies": _integer(0, 5),
    "ledger_signing_key": _note_key(Signer),
    "witness_signing_key": _note_key(CosignatureSigner),
    "ledger_origin": _origin,
    "witness_urls": _urls,
    "witness_keys": _vkeys,
}


def _check(name: str, variable: str, raw: Any) -> Any:
    parse = PARSERS.get(name)
    if parse is None:
        return raw
    try:
        return parse(raw)
    except (ValueError, TypeError, AddressError):
        if "url" in name or name.endswith("_key"):  # URLs may carry passwords; keys are secret
            shown = ""
        elif name in ("moderator_numbers", "twilio_sms_from", "twilio_whatsapp_from"):
            shown = f" (got {mask(str(raw)[:40])!r})"  # error output is logged too
        else:
            shown = f" (got {str(raw)[:40]!r})"
        raise ConfigError(f"{variable} must be {parse.allowed}{shown}") from None


def instance_secret(
    instance_path: str, name: str, nbytes: int = 32, make: Callable[[], str] | None = None
) -> str:
    """A secret generated once per instance folder, for running without any configuration.

    Used for SECRET_KEY, the local Twilio auth token and the ledger's signing key when they
    are not set, so that pseudonyms, webhook signatures and the log's identity stay stable
    across restarts.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make() if make is not None else secrets.token_hex(nbytes)
    # Written whole under a temporary name, then linked into place: a reader racing the
    # writer sees either no file or the whole secret, never an empty one.
    temporary = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    try:
        os.link(temporary, path)
    except FileExistsError:  # another process won the race; use its value
        return _read_secret(path)
    except OSError:  # a filesystem without hard links: exclusive create, readers wait
        return _create_exclusively(path, value)
    finally:
        temporary.unlink()
    return value


def _create_exclusively(path: Path, value: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _read_secret(path: Path, timeout: float = 2.0) -> str:
    """The secret another process wrote; waits out its write on filesystems without links."""
    deadline = time.monotonic() + timeout
    while True:
        value = path.read_text().strip()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)
