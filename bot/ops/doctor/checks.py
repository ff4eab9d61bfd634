"""What one check says: its name, OK / WARN / FAIL, and what to do."""

from __future__ import annotations

import re
from dataclasses import dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
LOG_FORMATS = ("text", "json")
# The checks that need the database, in order.
DATABASE_CHECKS = (
    "migrations",
    "outbound messages",
    "inbound messages",
    "twilio media",
    "ledger chain",
    "ledger tree",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}"


def worst(statuses: list[str]) -> str:
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK


def is_production(settings) -> bool:
    return settings.twilio_configured
