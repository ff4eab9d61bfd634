"""Twilio addresses: ``+15551234567`` for SMS, ``whatsapp:+15551234567`` for WhatsApp.

Numbers are read and written by Google's libphonenumber (the ``phonenumbers`` package): it
knows every country's calling code and possible lengths, which a regular expression does not.
The shape check in front of it stays strict — a leading ``+`` and ASCII digits, as Twilio
sends them — because libphonenumber also accepts Arabic-Indic or full-width digits, letters
("1-800-FLOWERS") and national forms, none of which may ever name a contact.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
WHATSAPP = "whatsapp:"
# What people put inside a number they type (the CLI): removed before the shape check.
_TYPED_SEPARATORS = re.compile(r"[ ()\-.]")


class AddressError(ValueError):
    pass


def parse_address(address: str) -> tuple[str, str]:
    """Return (channel, E.164 number) for what a person typed, or raise AddressError."""
    channel, number = _split_channel(address)
    return channel, e164(number)


def parse_twilio_address(address: str) -> tuple[str, str]:
    """(channel, number) as Twilio sends them in a webhook: the shape check alone.

    Twilio has already delivered a message from this number, so no rule of ours about which
    numbers are possible may turn it away: a 4xx is never retried and the message would be
    lost. Typed numbers (CLI, configuration) go through :func:`parse_address` instead.
    """
    channel, number = _split_channel(address)
    if not E164.fullmatch(number):
        raise AddressError("not an E.164 phone number")
    return channel, number


def _split_channel(address: str) -> tuple[str, str]:
    address = (address or "").strip()
    if address.lower().startswith(WHATSAPP):
        return "whatsapp", address[len(WHATSAPP) :].strip()
    return "sms", address


def e164(number: str) -> str:
    """The E.164 form of ``number`` ("+1 (555) 123-4567" → "+15551234567"), or AddressError.

    The country calling code must exist and the length must be possible for that country.
    """
    compact = _TYPED_SEPARATORS.sub("", number or "")
    if not E164.fullmatch(compact):
        raise AddressError("not an E.164 phone number")
    try:
        parsed = phonenumbers.parse(compact, None)
    except NumberParseException as exc:
        raise AddressError("not an E.164 phone number") from exc
    if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
        raise AddressError("not a possible phone number for its country code")
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


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
