"""Keep phone numbers out of everything the public ledger holds, and leave citations intact.

The ledger is public and permanent: a number typed into a question, a paste, a link or a
rejection reason can never be taken back, and neither can a PMID or page range a crude rule
mangled. So every string a person typed goes through ``publishable`` before it is written,
and moderators see that result, removals marked, before they approve.

Everything is decided on a *view* of the text and removals are mapped back, so all that is
kept stays byte-identical:

1. The view (``normalise``): NFKC per character; every Unicode digit (superscript, circled,
   full-width, Arabic-Indic, ...) to ASCII; combining marks and invisible format characters
   dropped; dashes to ``-``; spaces to `` ``; ``%XX`` escapes decoded.
2. Never touched (``keep._STRONG``, ``keep._CHECKED``): labelled PMIDs, PubMed/PMC/Europe PMC
   links, DOIs, trial registry ids, ISBN/ISSN/ORCID with a valid check digit, arXiv, PII and
   Springer article ids, ISO timestamps, UUIDs, hex digests.
3. Quantities (``keep``): ``_HARD`` (years, page ranges, volume(issue), decimals, thousands,
   dates, "36th") and ``_SOFT`` (a count before a population word, "n=40", doses and
   durations, "vol. 12"). No number is cut out of one and their digits do not make a phone
   number. Soft ones hang on the next word, which a pasted number can move, so they weigh less
   in ranking.
4. Digit chains (``chains``: digit groups joined by what people type inside numbers: space,
   dashes, dot, slash, comma, underscore, brackets, plus) are read with phonenumbers
   (``phones._judge``, ``chains._pick``): after ``+``/``00``/``011`` a number possible for its
   country code, any country; otherwise one possible in a region of ``REGIONS``, grouped the
   way that region writes it and with the trunk prefix where it writes one, so "555 777 6001
   110 patients" keeps "110". What no reading claims goes if it holds 10+ unexplained digits,
   8+ punctuated, or follows a cue word ("call", "tel:", "WhatsApp").
5. Links (``links._urls``): query values and path segments that are numbers
   (``wa.me/1555...``, ``?phone=+1555...``); a path's slashes never join digits into one
   number.

This module holds only the pipeline and the public names; ``result`` holds what it returns.
"""

from __future__ import annotations

from ledger.redact.chains import _chains
from ledger.redact.keep import _spans
from ledger.redact.links import _urls
from ledger.redact.normalise import _assemble, _view
from ledger.redact.phones import REGIONS
from ledger.redact.result import PLACEHOLDER, Redacted

__all__ = ["PLACEHOLDER", "REGIONS", "Redacted", "publishable", "redact_numbers"]


def publishable(text: str) -> Redacted:
    """``text`` as it may be published: every phone number replaced by PLACEHOLDER, every
    other character kept as it was. Deterministic, so a preview equals what is published."""
    text = text or ""
    if text.isascii() and sum(c.isdigit() for c in text) < 6:
        return Redacted(text, ((text, False),) if text else (), ())
    view, starts, ends = _view(text)
    work, weak = _spans(view)
    removals, in_url, work = _urls(view, work)
    removals += _chains(view, work, weak, in_url)
    return _assemble(text, removals, starts, ends)


def redact_numbers(text: str) -> str:
    """The published form of ``text``; see ``publishable``."""
    return publishable(text).text
