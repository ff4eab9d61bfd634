"""All configuration, read from the environment in one place (see the README's table).

Tests and tools pass overrides to ``Settings.load``; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_TWILIO_API_URL = "https://api.twilio.com"
DEFAULT_INSTANCE = Path.cwd() / "instance"


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
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Environment first, then overrides (keys in either ``UPPER`` or ``lower`` case)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)} - {"extra"}
        for name in names:
            raw = env.get(name.upper()) or env.get(f"LEDGERBOT_{name.upper()}")
            if raw not in (None, ""):
                values[name] = raw
        extra: dict[str, Any] = {}
        for key, value in (overrides or {}).items():
            if key.lower() in names:
                values[key.lower()] = value
            else:
                extra[key] = value
        for f in fields(cls):
            if f.name in values and isinstance(values[f.name], str):
                if f.type in ("int",):
                    values[f.name] = int(values[f.name])
                elif f.type in ("float",):
                    values[f.name] = float(values[f.name])
                elif f.name == "moderator_numbers":
                    values[f.name] = _split_numbers(values[f.name])
        if isinstance(values.get("moderator_numbers"), list):
            values["moderator_numbers"] = tuple(values["moderator_numbers"])
        return cls(extra=extra, **values)

    @property
    def twilio_configured(self) -> bool:
        """Without an account SID replies are kept in the outbox and logged (dev mode)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def default_database_url(self) -> str:
        return "sqlite:///" + str(Path(self.instance_path).resolve() / "ledgerbot.sqlite3")

    def resolved_database_url(self) -> str:
        return self.database_url or self.default_database_url


def instance_secret(instance_path: str, name: str, nbytes: int = 32) -> str:
    """A secret generated once per instance folder, for running without any configuration.

    Used for SECRET_KEY and the local Twilio auth token when they are not set, so that
    pseudonyms stay stable across restarts and webhook signatures are still checked.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(nbytes)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its value
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
