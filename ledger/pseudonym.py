"""Pseudonyms: how people appear in public data without their phone numbers.

An HMAC (not a bare hash) because the space of phone numbers is small enough to enumerate:
without the secret key nobody can test a number against a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX = 16


def pseudonym(e164: str, secret_key: str) -> str:
    digest = hmac.new(secret_key.encode(), e164.encode(), hashlib.sha256).hexdigest()
    return "p-" + digest[:PSEUDONYM_HEX]
