"""Reading a candidate digit group with phonenumbers: is it one phone number, and how well?

After ``+``/``00``/``011`` a number must be possible for its country code; otherwise it must
be possible in a region of ``REGIONS`` and grouped the way that region writes it. The cheap
metadata pre-check and the caches live here because phonenumbers is most of the cost of a
paste.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata
from phonenumbers import PhoneNumberFormat as Format

# Keep phonenumbers' compiled metadata patterns: across REGIONS they overflow the re module's
# 512-entry cache, and recompiling them was half the cost of a paste.
phonenumbers.enable_pattern_cache()

# National formats are tried in these regions, +/00/011 numbers under every country code.
# PhoneNumberMatcher over all 245 regions took 0.8 s on one 1,600-character paste, and with
# leniency VALID it reads "030 12345678 110" as one German number.
_REGION_CODES = (
    "US GB IE DE AT CH FR BE NL ES PT IT DK NO SE FI PL CZ GR TR RU UA IL AE SA EG ZA NG KE IN PK "
    "BD CN HK TW JP KR SG MY TH VN PH ID AU NZ BR AR MX CO CL"
)
REGIONS = tuple(_REGION_CODES.split())


@functools.cache
def _meta(region: str) -> tuple[str, frozenset[int], re.Pattern[str]] | None:
    """A cheap first test for a region (length and shape of the national number); None where
    the national prefix rewrites the number (Argentina's "15", Brazil's carrier codes)."""
    data = PhoneMetadata.metadata_for_region(region)
    if data.national_prefix_transform_rule:
        return None
    general = data.general_desc
    pattern = re.compile(general.national_number_pattern)
    return data.national_prefix or "", frozenset(general.possible_length), pattern


def _may_be(region: str, digits: str) -> bool:
    meta = _meta(region)
    if meta is None:
        return True
    prefix, lengths, pattern = meta
    nsn = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
    return len(nsn) in lengths and pattern.fullmatch(nsn) is not None


@functools.lru_cache(maxsize=4096)
def _parsed(digits: str, region: str) -> phonenumbers.PhoneNumber | None:
    """``digits`` as a number possible in ``region``, or None."""
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def _valid(digits: str, region: str) -> bool:
    number = _parsed(digits, region)
    return number is not None and phonenumbers.is_valid_number(number)


def _fit(groups: tuple[str, ...], formatted: str) -> str:
    """How the typed groups match ``formatted``: "exact"; "close" when groups are merged
    ("555 7776001") or split ("07700 900 456" for "07700 900456"); "" otherwise."""
    parts = re.findall(r"\d+", formatted)
    typed, shown = "".join(groups), "".join(parts)
    cuts = {sum(map(len, groups[: i + 1])) for i in range(len(groups) - 1)}
    marks = {sum(map(len, parts[: i + 1])) for i in range(len(parts) - 1)}
    if shown.endswith(typed):
        shift = len(shown) - len(typed)
        marks = {c - shift for c in marks if c > shift}
    elif typed.endswith(shown):  # typed with the trunk prefix the format leaves out
        shift = len(typed) - len(shown)
        marks = {c + shift for c in marks} | {shift}
    else:
        return ""
    trunk = {1} if typed.startswith("0") else set()  # "(0)20 7946 0958"
    if cuts in (marks, marks | trunk):
        return "exact"
    split = bool(marks - trunk) and marks - trunk <= cuts and min(map(len, groups[1:])) > 1
    return "close" if cuts <= marks | trunk or split else ""


@functools.lru_cache(maxsize=4096)
def _judge(groups: tuple[str, ...], plus: bool) -> tuple[int, bool, bool, tuple] | None:
    """(international, valid, exactly grouped, regions it fits) when the digit groups can be
    one phone number: possible for the country code after +, 00 or 011; or possible in a region
    of REGIONS and grouped as it writes them, trunk prefix included where it writes one; or one
    run of 10-15 digits."""
    digits = "".join(groups)
    idd = "+" if plus else next((p for p in ("011", "00") if digits.startswith(p)), "")
    if idd:
        rest = (groups[0][0 if plus else len(idd) :], *groups[1:])
        rest = tuple(g for i, g in enumerate(rest) if g and (g != "0" or i != 1))  # +44 (0)20
        try:
            number = phonenumbers.parse("+" + "".join(rest))
        except NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            exact = _fit(rest, phonenumbers.format_number(number, Format.INTERNATIONAL))
            return 1, phonenumbers.is_valid_number(number), exact == "exact", ()
        if plus:
            return None
    if len(groups) == 1:
        return (0, False, True, ()) if 10 <= len(digits) <= 15 else None
    best, regions = None, []
    for region in REGIONS:
        if len(digits) > (13 if _meta(region) is None else 12) or not _may_be(region, digits):
            continue
        number = _parsed(digits, region)
        if number is None:
            continue
        shown = phonenumbers.format_number(number, Format.NATIONAL)
        prefix = PhoneMetadata.metadata_for_region(region).national_prefix or "~"
        if region != "IN" and shown.lstrip("(").startswith(prefix) > digits.startswith(prefix):
            continue  # "5678 16727534" is not a German number: Germans write the 0
        fit = _fit(groups, shown)
        if fit:
            regions.append(region)
            judged = (0, phonenumbers.is_valid_number(number), fit == "exact")
            best = max(best or judged, judged, key=lambda j: j[2:0:-1])
    return (*best, tuple(regions)) if best else None
