"""Twilio addresses: ``+15551234567`` for SMS, ``whatsapp:+15551234567`` for WhatsApp."""

from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WHATSAPP = "whatsapp:"


class AddressError(ValueError):
    pass


def parse_address(address: str) -> tuple[str, str]:
    """Return (channel, E.164 number) or raise AddressError."""
    address = (address or "").strip()
    channel = "sms"
    if address.lower().startswith(WHATSAPP):
        channel, address = "whatsapp", address[len(WHATSAPP) :].strip()
    if not E164.match(address):
        raise AddressError("not an E.164 phone number")
    return channel, address


def format_address(channel: str, number: str) -> str:
    return f"{WHATSAPP}{number}" if channel == "whatsapp" else number


def mask(number: str | None) -> str:
    """For logs: keep the country code and last four digits (+1555•••4567)."""
    if not number:
        return "-"
    prefix = ""
    if number.lower().startswith(WHATSAPP):
        prefix, number = WHATSAPP, number[len(WHATSAPP) :]
    digits = number.lstrip("+")
    if len(digits) >= 11:  # +1555•••4567: country and area code, last four
        return f"{prefix}+{digits[:4]}•••{digits[-4:]}"
    if len(digits) >= 7:  # shorter national plans: hide at least half the digits
        return f"{prefix}+{digits[:2]}•••{digits[-2:]}"
    return prefix + "+•••"
