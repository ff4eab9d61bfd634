"""All configuration, read from the environment in one place (see the README's table).

Tests and tools pass overrides to ``Settings.load``; nothing else reads ``os.environ``.
``load`` checks every value and refuses to start on a bad one, naming the variable and what
it allows: a typo in production must stop the process, not quietly turn a limit off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config.instance import instance_secret
from bot.config.parsers import PARSERS
from bot.messaging.addresses import AddressError, mask

__all__ = ["PARSERS", "ConfigError", "Settings", "instance_secret"]

DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
DEFAULT_INSTANCE = Path.cwd() / "instance"
PREFIX = "LEDGERBOT_"


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the variable and the rule."""


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
    # Quick-reply templates (twilio/quick-reply) for WhatsApp buttons; without them, text.
    twilio_review_content_sid: str | None = None  # body {{1}}, three buttons {{2}}..{{7}}
    twilio_answer_content_sid: str | None = None  # body {{1}}, two buttons {{2}}..{{5}}
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
    media_dir: str | None = None  # the media store; default <instance>/media
    dev_phone: bool = False  # serve /dev/phone even with Twilio configured (see bot.web.devphone)
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
    def resolved_media_dir(self) -> Path:
        """Where evidence files are kept, content-addressed (``bot.media.store``)."""
        return Path(self.media_dir) if self.media_dir else Path(self.instance_path) / "media"

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
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        default = {"http": 80, "https": 443}.get(scheme)
        port = f":{parts.port}" if parts.port and parts.port != default else ""
        host = f"[{host}]" if ":" in host else host  # IPv6, as in a URL
        return f"{host}{port}{parts.path.rstrip('/')}"

    def redis_key(self, *parts: str) -> str:
        """Every Redis key of this deployment: ``ledgerbot:<QUEUE_NAME>:…``.

        Two deployments sharing one Redis (different QUEUE_NAMEs) never share a rate limit, a
        login throttle, the sweep lock or a metric.
        """
        return ":".join(("ledgerbot", self.queue_name, *parts))


def _check(name: str, variable: str, raw: Any) -> Any:
    parse = PARSERS.get(name)
    if parse is None:
        return raw
    try:
        return parse(raw)
    except (ValueError, TypeError, AddressError):
        if "url" in name or "key" in name or str(raw).startswith("PRIVATE+KEY"):
            # URLs may carry passwords, and keys may be private (or pasted in the wrong place)
            shown = ""
        elif name in ("moderator_numbers", "twilio_sms_from", "twilio_whatsapp_from"):
            shown = f" (got {mask(str(raw)[:40])!r})"  # error output is logged too
        else:
            shown = f" (got {str(raw)[:40]!r})"
        raise ConfigError(f"{variable} must be {parse.allowed}{shown}") from None
