"""Every configuration value's rule: what ``Settings.load`` accepts, and how it says so.

Each parser raises ValueError (or AddressError, or NoteError) on a bad value and carries an
``allowed`` text that the error message quotes; ``bot.config`` names the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot.messaging.addresses import format_address, parse_address
from ledger.tlog.notes import CosignatureSigner, Signer, Verifier

QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


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
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
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


def _boolean(raw: Any) -> bool:
    """A switch: the spellings people write in an environment file, nothing that merely looks
    true ("on", "2"), so a typo stops the process instead of leaving the switch off."""
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValueError


_boolean.allowed = "one of 0, 1, true, false, yes, no"  # type: ignore[attr-defined]


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
    items = split_list(raw) if isinstance(raw, str) else tuple(raw)
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
    items = split_list(raw) if isinstance(raw, str) else tuple(raw)
    return tuple(dict.fromkeys(parse(item).rstrip("/") for item in items))


_urls.allowed = "comma-separated URLs starting http:// or https://"  # type: ignore[attr-defined]


def _vkeys(raw: Any) -> tuple[str, ...]:
    items = split_list(raw) if isinstance(raw, str) else tuple(raw)
    for item in items:
        Verifier.from_vkey(item)
    return tuple(dict.fromkeys(items))


_vkeys.allowed = "comma-separated verifier keys, <name>+<id>+<key>"  # type: ignore[attr-defined]


def _content_sid(raw: Any) -> str:
    """A Content API template SID: HX and 32 hex digits (Twilio answers 400 to anything else)."""
    value = str(raw).strip()
    if not re.fullmatch(r"HX[0-9a-fA-F]{32}", value):
        raise ValueError
    return value


_content_sid.allowed = "a Content template SID, HX followed by 32 hex digits"  # type: ignore[attr-defined]


def _directory(raw: Any) -> str:
    value = str(raw).strip()
    if not value or "\x00" in value:
        raise ValueError
    return value


_directory.allowed = "a directory path"  # type: ignore[attr-defined]


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
    "dev_phone": _boolean,
    "twilio_whatsapp_template_sid": _content_sid,
    "twilio_review_content_sid": _content_sid,
    "twilio_answer_content_sid": _content_sid,
    "media_dir": _directory,
}
