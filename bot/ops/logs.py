"""Logging: one line per record, as text or JSON, tagged with the message and job it is about.

The webhook binds the ``MessageSid`` and each job binds its RQ job id (and the ``MessageSid``
it works for) in context variables; a filter on our handler copies them onto every record, so
``grep SM…`` finds a message's whole path through web and worker processes. The same filter
is the last line of defence for privacy: E.164-looking numbers are masked and known secrets
(auth token, secret key, passwords in URLs) are replaced, whatever a caller passed to the
logger. Code should still log ``mask(number)`` itself; this only catches mistakes.
"""

from __future__ import annotations

import contextlib
import json as json_lib
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

from bot.messaging.addresses import mask
from bot.messaging.sids import SAFE_SID
from bot.ops.redis_embedded import embedded_redis_password

message_sid_var: ContextVar[str | None] = ContextVar("ledgerbot_message_sid", default=None)
job_id_var: ContextVar[str | None] = ContextVar("ledgerbot_job_id", default=None)

# A MessageSid we are willing to write into a log line (it comes from the request).
# Phone numbers: +E.164 (also URL-encoded as %2B…); longer digit runs are masked as well.
_PHONE = re.compile(r"(?:\+|%2[bB])(\d{8,})")
# Credentials in URLs: scheme://user:password@host
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)@")
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6

_secrets: tuple[str, ...] = ()


def clean_sid(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if SAFE_SID.fullmatch(value) else None


def bind(*, message_sid: str | None = None, job_id: str | None = None) -> None:
    """Tag every following log record in this context (request, job) with these ids."""
    if message_sid is not None:
        message_sid_var.set(clean_sid(message_sid))
    if job_id is not None:
        job_id_var.set(job_id)


def clear() -> None:
    message_sid_var.set(None)
    job_id_var.set(None)


@contextlib.contextmanager
def context(*, message_sid: str | None = None, job_id: str | None = None) -> Iterator[None]:
    sid_token = message_sid_var.set(clean_sid(message_sid) if message_sid else None)
    job_token = job_id_var.set(job_id)
    try:
        yield
    finally:
        message_sid_var.reset(sid_token)
        job_id_var.reset(job_token)


def register_secrets(values: Iterable[str | None]) -> None:
    """Values that must never appear in a log line (added to those already known)."""
    global _secrets
    known = set(_secrets)
    known.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)
    # Longest first, so a secret containing another is replaced whole.
    _secrets = tuple(sorted(known, key=len, reverse=True))


def _mask_match(match: re.Match) -> str:
    return mask("+" + match.group(1))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    if "+" in text or "%2" in text:
        text = _PHONE.sub(_mask_match, text)
    return text


class ContextFilter(logging.Filter):
    """Adds ``message_sid`` and ``job_id`` to every record and redacts its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "message_sid", None) is None:
            record.message_sid = message_sid_var.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id_var.get()
        if not getattr(record, "_ledgerbot_redacted", False):
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: let logging report it as usual
                return True
            record.msg, record.args = redact(message), None
            record._ledgerbot_redacted = True
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [sid=%(sid)s job=%(job)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """One line per record: a message's own newlines (a multi-line text body) are written
        as ``\\n`` so a log reader never sees half an entry as another. A traceback keeps its
        lines, indented under the record it belongs to."""
        record.sid = getattr(record, "message_sid", None) or "-"
        record.job = getattr(record, "job_id", None) or "-"
        message = record.getMessage()  # once: the base formatter then has nothing to format
        if "\n" in message or "\r" in message:
            message = message.replace("\r", "\\r").replace("\n", "\\n")
        record.msg, record.args = message, None
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, message_sid, job_id (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        line = {
            "ts": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "message_sid": getattr(record, "message_sid", None),
            "job_id": getattr(record, "job_id", None),
        }
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json_lib.dumps(line, default=str)


class _Handler(logging.StreamHandler):
    """Writes to the given stream, or to whatever ``sys.stderr`` is at the time."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def configure(
    json: bool = False,
    *,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
    secrets: Iterable[str | None] = (),
) -> logging.Handler:
    """Install our handler on the root logger (replacing one installed before); idempotent."""
    register_secrets(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ledgerbot", False):
            root.removeHandler(handler)
    handler = _Handler(stream)
    handler._ledgerbot = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # The twilio client logs every request's headers at INFO: a dozen lines per text sent; RQ
    # logs five lines per job. Our own INFO line per message step says what happened.
    for chatty in ("twilio.http_client", "rq.worker", "rq.queue", "rq.scheduler"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    return handler


def secrets_of(services) -> list[str | None]:
    """What must never be logged: the auth token, the secret key, passwords in the URLs."""
    from sqlalchemy.engine import make_url

    settings = services.settings
    values = [
        settings.twilio_auth_token,
        settings.secret_key,
        services.secret_key,
        settings.ledger_signing_key,
        settings.witness_signing_key,
    ]
    # The private part of a signed-note key (after its last '+') is what must never show.
    values += [key.rsplit("+", 1)[-1] for key in values[3:5] if key]
    for url in (settings.database_url, settings.redis_url, *settings.witness_urls):
        try:
            values.append(make_url(url).password if url else None)
        except Exception:  # not a URL SQLAlchemy can read; nothing to take from it
            continue
    if not settings.redis_url:  # the embedded server's password, once one was generated
        values.append(embedded_redis_password(settings.instance_path))
    return values


def configure_for(services, stream: IO[str] | None = None) -> logging.Handler:
    """``configure`` as LOG_FORMAT says, with this process's secrets registered."""
    return configure(
        json=services.settings.log_format.lower() == "json",
        stream=stream,
        secrets=secrets_of(services),
    )
