"""The view the rules read, and the way back from it to the text a person typed.

Phone numbers are disguised with superscript, circled, full-width or Arabic-Indic digits,
combining marks, zero-width characters, Unicode dashes and ``%XX`` escapes. Every rule reads
one normalised copy instead, and each removal is mapped back through the per-character spans
kept here, so everything not removed stays byte-identical to the original.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from ledger.redact.result import PLACEHOLDER, Redacted

_DASHES = frozenset("‐‑‒–—―−⁻₋﹘﹣－")


@functools.lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """One non-ASCII character as the view sees it."""
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return ""
    out = []
    for c in unicodedata.normalize("NFKC", ch):
        if c.isascii():
            out.append(c)
        elif unicodedata.digit(c, None) is not None:
            out.append(str(unicodedata.digit(c)))
        elif c in _DASHES or unicodedata.category(c) == "Pd":
            out.append("-")
        else:
            out.append(" " if unicodedata.category(c) == "Zs" else c)
    return "".join(out)


_SPECIAL = re.compile(r"%[2-7][0-9A-Fa-f]|[^\x00-\x7f]")


def _view(text: str) -> tuple[str, list[int], list[int]]:
    """The view, and for each of its characters the original span it came from."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    done = 0
    for match in _SPECIAL.finditer(text):
        at, end = match.span()
        chars.append(text[done:at])
        starts.extend(range(done, at))
        ends.extend(range(done + 1, at + 1))
        found = match.group()
        piece = chr(int(found[1:], 16)) if found[0] == "%" else _fold(found)
        chars.append(piece)
        starts.extend([at] * len(piece))
        ends.extend([end] * len(piece))
        done = end
    chars.append(text[done:])
    starts.extend(range(done, len(text)))
    ends.extend(range(done + 1, len(text) + 1))
    return "".join(chars), starts, ends


def _assemble(text: str, view_spans: list[tuple[int, int]], starts, ends) -> Redacted:
    """Map removals back onto the original text; combining marks go with their digit."""
    spans: list[list[int]] = []
    for a, b in sorted(view_spans):
        start, end = starts[a], ends[b - 1]
        while end < len(text) and unicodedata.category(text[end]) in ("Mn", "Me"):
            end += 1
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    pieces: list[tuple[str, bool]] = []
    last = 0
    for start, end in spans:
        pieces += [(text[last:start], False)] if start > last else []
        pieces.append((PLACEHOLDER, True))
        last = end
    pieces += [(text[last:], False)] if last < len(text) else []
    removed = tuple(text[s:e] for s, e in spans)
    return Redacted("".join(p for p, _ in pieces), tuple(pieces), removed)
