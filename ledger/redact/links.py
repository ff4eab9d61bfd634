"""Numbers inside links: ``wa.me/1555...``, ``tel:``, ``?phone=+1555...``, path segments.

A link is read piece by piece: query values and path segments that are numbers go, and the
path's slashes are cut from the view so ``/article/111/9/591/4136430`` is five segments, not
one long digit chain for ``chains`` to remove.
"""

from __future__ import annotations

import re

from ledger.redact.keep import _CUT

_URL = re.compile(
    r"(?:\bhttps?://|\bwww\.|\b(?:wa|t)\.me/|\bapi\.whatsapp\.com/)[^\s<>\"'`]+", re.I
)
_NUMBERISH = re.compile(r"\+?[\d ()\-./_,]+")
_NUMBER_KEY = re.compile(
    r"(?:phone|tel|mobile|cell|number|num|whatsapp|wa|sms|to|from|msisdn|contact|text|call)\w*",
    re.I,
)


def _number_value(value: str, cued: bool) -> bool:
    digits = sum(c.isdigit() for c in value)
    if not _NUMBERISH.fullmatch(value):
        return False
    return 9 <= digits <= 15 or (value.startswith("+") and digits >= 7) or (cued and digits >= 6)


def _urls(view: str, work: str) -> tuple[list[tuple[int, int]], bytearray, str]:
    """Path segments and query values of links that are numbers (``wa.me/1555...``,
    ``?phone=+1555...``), a mask of where links are, and ``work`` with their slashes cut
    (``/article/111/9/591/4136430`` is five path segments, not one number)."""
    removals, in_url, cut = [], bytearray(len(view)), list(work)
    for match in _URL.finditer(view):
        url, base = match.group().rstrip(".,;:!?)]}'\""), match.start()
        in_url[base : base + len(url)] = b"\x01" * len(url)
        cut[base : base + len(url)] = [
            _CUT if c == "/" else w for c, w in zip(url, cut[base:], strict=False)
        ]
        head = re.match(r"(?:[a-z]+://)?([^/?#]*)", url, re.IGNORECASE)
        messenger = head.group(1).lower() in ("wa.me", "t.me", "api.whatsapp.com")
        query = next((i for i, c in enumerate(url) if c in "?#"), len(url))
        values = [
            (m.span(), m.group(), messenger) for m in re.finditer(r"(?<=/)[^/?#]+", url[:query])
        ]
        values = [v for v in values if v[0][0] >= head.end()]
        for m in re.finditer(r"[?&;]([^=&;#]*)=([^&;#]*)", url[query:]):
            span = (m.start(2) + query, m.end(2) + query)
            values.append((span, m.group(2), bool(_NUMBER_KEY.fullmatch(m.group(1)))))
        for (start, end), value, cued in values:
            if _number_value(value, cued) and _CUT not in work[base + start : base + end]:
                removals.append((base + start, base + end))
    return removals, in_url, "".join(cut)
