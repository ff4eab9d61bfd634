"""SMS segment arithmetic: how many billed parts a reply costs, and how to make it fit.

A text is sent as GSM-7 when every character is in the GSM 03.38 basic table or its extension
table (extension characters take an escape septet, so they cost 2). One GSM-7 part holds 160
septets; a concatenated message holds 153 per part (the rest is the UDH header). Any other
character switches the whole message to UCS-2, counted in UTF-16 code units: 70 in one part,
67 per part when concatenated. Like Twilio's segment calculator, a character is never split
across two parts (an escape sequence or a surrogate pair moves whole to the next part).
"""

from __future__ import annotations

# GSM 03.38 default alphabet, in code order (0x1B, the escape to the extension table, is left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs two septets (ESC + code).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

_GSM_ELLIPSIS = "..."


GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` can be sent in the GSM-7 alphabet."""
    return GSM7_ALL.issuperset(text)  # in C: a reply is checked several times as it is fitted


def _costs(text: str) -> tuple[list[int], int, int]:
    """Per-character cost and the single/multi-part capacities of the encoding ``text`` needs."""
    if is_gsm7(text):
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_MULTI
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_MULTI


def _units(text: str) -> tuple[int, int]:
    """The whole text's cost (septets, or UTF-16 code units) and its one-part capacity."""
    if is_gsm7(text):
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION), GSM7_SINGLE
    return len(text.encode("utf-16-le")) // 2, UCS2_SINGLE


def segments(text: str) -> int:
    """Number of SMS segments ``text`` is billed as (an empty text still costs one)."""
    units, single = _units(text)
    if units <= single:  # most replies: counted without a walk over the characters
        return 1
    costs, single, multi = _costs(text)
    count, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            count += 1
            used = 0
        used += cost
    return count


def _ellipsis_for(prefix: str, ellipsis: str) -> str:
    """Keep a GSM-7 prefix in GSM-7: a non-GSM ellipsis would double the cost of every char."""
    if ellipsis and is_gsm7(prefix) and not is_gsm7(ellipsis):
        return _GSM_ELLIPSIS
    return ellipsis


def _with_ellipsis(prefix: str, ellipsis: str) -> str:
    return prefix + _ellipsis_for(prefix, ellipsis)


def fit(text: str, max_segments: int = 3, ellipsis: str = "…") -> str:
    """Return ``text`` unchanged if it fits in ``max_segments``, else a shortened copy that does.

    The cut is made at a word boundary when one is near the limit, trailing whitespace and
    separators are dropped, and ``ellipsis`` is appended. If the rest of the text is GSM-7 and
    ``ellipsis`` is not (the default "…" is not), "..." is used instead so the message does not
    flip to UCS-2 and lose more than half its room.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if segments(text) <= max_segments:
        return text

    def fits(n: int) -> bool:
        return segments(_with_ellipsis(text[:n], ellipsis)) <= max_segments

    if not fits(0):  # the ellipsis alone is too long: cut hard, without one
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if segments(text[:mid]) <= max_segments:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    # Longest prefix that fits with its ellipsis; segments() is monotone in the prefix length.
    lo, hi = 0, len(text) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    prefix = text[:lo]

    # Back off to the last word boundary unless that would throw away too much.
    if lo < len(text) and not text[lo].isspace():
        boundary = max(prefix.rfind(" "), prefix.rfind("\n"), prefix.rfind("\t"))
        if boundary > 0 and lo - boundary <= max(20, lo // 4):
            prefix = prefix[:boundary]
    prefix = prefix.rstrip(" \t\r\n,;:-")

    result = _with_ellipsis(prefix, ellipsis)
    while segments(result) > max_segments:  # shorter prefixes always fit; kept as a guard
        prefix = prefix[:-1]
        result = _with_ellipsis(prefix, ellipsis)
    return result


def fit_lines(lines: list[str], tail: str, max_segments: int = 3, keep: int = 0) -> str:
    """Join ``lines`` with newlines and end with ``tail``, dropping whole lines to fit.

    Every part is made GSM-7 where a look-alike is safe (:func:`gsm_friendly`) first: one em
    dash would otherwise switch the whole text to UCS-2 and cost more than half its room.
    Lines are then dropped from the end (the tail stays last) until the text fits in
    ``max_segments``, but the first ``keep`` lines are never dropped — they are what the reply
    is for (an article's summary and counts, the first claim). If those and the tail still
    do not fit, the kept lines are shortened, never the tail; an empty ``tail`` adds no
    trailing newline.
    """
    kept = [gsm_friendly(line) for line in lines]
    tail = gsm_friendly(tail)
    while True:
        text = _joined(kept, tail)
        if segments(text) <= max_segments or len(kept) <= keep:
            break
        kept.pop()
    if segments(text) <= max_segments:
        return text
    if not kept:
        return fit(tail, max_segments)
    head = "\n".join(kept)
    lo, hi = 0, len(head)  # the longest cut of the kept lines that fits before the tail
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if segments(_joined([_cut(head, mid)], tail)) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    return _joined([_cut(head, lo)], tail) if lo else fit(tail, max_segments)


def _joined(lines: list[str], tail: str) -> str:
    body = "\n".join(lines)
    if not body:
        return tail
    return f"{body}\n{tail}" if tail else body


def _cut(text: str, size: int) -> str:
    return text if size >= len(text) else text[:size].rstrip() + _GSM_ELLIPSIS


# Typographic characters that would switch a whole SMS to UCS-2 (70 instead of 160 characters
# a segment), mapped to GSM-7 look-alikes. Applied to replies only, never to stored evidence.
_GSM_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u03bc": "u",
        "\u00b5": "u",
        "\u2260": "!=",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u00d7": "x",
        "\u2022": "-",
    }
)


def gsm_friendly(text: str) -> str:
    return text.translate(_GSM_LOOKALIKES)
