"""The one way an article's slug is made: from a published title, and from what people type.

The importer derives a slug from the article's title and the bot from the text of a message;
both go through :func:`normalize_slug`, so "Sémax" typed on a phone finds the article whose
title starts "Sémax" (once an importer turned that title into ``s-max``).
"""

from __future__ import annotations

import re
import unicodedata

# Copy-paste from PDFs and chat apps injects invisible characters that would split slugs.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
SURROGATE = re.compile("[\ud800-\udfff]")
_SEPARATORS = re.compile(r"[\s_.\-]+")
_NON_SLUG = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def clean(text: str) -> str:
    """Lone surrogates cannot be encoded for logs or the database; U+FFFD keeps positions."""
    return SURROGATE.sub("\ufffd", text).translate(INVISIBLE)


def strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize_slug(s: str) -> str:
    """Map an article name, however typed, onto the one ASCII key the ledger stores.

    Accents are folded rather than dropped so that "Sémax" still finds "semax".
    """
    if not isinstance(s, str):
        return ""
    # Casefolding can expose new combining marks ("İ" -> "i̇"), hence marks are stripped twice.
    s = strip_marks(strip_marks(clean(s)).casefold())
    s = _NON_SLUG.sub("", _SEPARATORS.sub("-", s))
    return _DASHES.sub("-", s).strip("-")


def slug_from_title(title: str) -> str:
    """The part of a title before its first colon ("Semax: what the evidence says" → semax)."""
    first = title.split(":", 1)[0]
    return normalize_slug(first) or normalize_slug(title) or "article"
