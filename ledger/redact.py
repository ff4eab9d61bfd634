"""Keep phone numbers out of public text.

People sometimes type their own or someone else's number into a question or a paste; the
ledger is public and permanent, so anything shaped like a phone number is replaced before
it is written. PMIDs (up to 8 digits), DOIs, trial ids and years are left alone: a match
needs at least 9 digits.
"""

from __future__ import annotations

import re

PLACEHOLDER = "[number removed]"
_CANDIDATE = re.compile(r"(?<![\w/.])\+?\(?\d[\d\s().\-]{6,}\d(?![\w/])")
_MIN_DIGITS = 9


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    return PLACEHOLDER if digits >= _MIN_DIGITS else text


def redact_numbers(text: str) -> str:
    return _CANDIDATE.sub(_replace, text)
