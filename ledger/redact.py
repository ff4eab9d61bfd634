"""Keep phone numbers out of everything the public ledger holds, and leave citations intact.

The ledger is public and permanent: a number typed into a question, a paste, a link or a
rejection reason can never be taken back, and neither can a PMID or page range a crude rule
mangled. So every string a person typed goes through ``publishable`` before it is written,
and moderators see that result, removals marked, before they approve.

Everything is decided on a *view* of the text and removals are mapped back, so all that is
kept stays byte-identical:

1. The view: NFKC per character; every Unicode digit (superscript, circled, full-width,
   Arabic-Indic, ...) to ASCII; combining marks and invisible format characters dropped;
   dashes to ``-``; spaces to `` ``; ``%XX`` escapes decoded.
2. Never touched (``_STRONG``, ``_CHECKED``): labelled PMIDs, PubMed/PMC/Europe PMC links,
   DOIs, trial registry ids, ISBN/ISSN/ORCID with a valid check digit, arXiv, PII and Springer
   article ids, ISO timestamps, UUIDs, hex digests.
3. Quantities: ``_HARD`` (years, page ranges, volume(issue), decimals, thousands, dates,
   "36th") and ``_SOFT`` (a count before a population word, "n=40", doses and durations,
   "vol. 12"). No number is cut out of one and their digits do not make a phone number. Soft
   ones hang on the next word, which a pasted number can move, so they weigh less in ranking.
4. Digit chains (digit groups joined by what people type inside numbers: space, dashes, dot,
   slash, comma, underscore, brackets, plus) are read with phonenumbers (``_judge``, ``_pick``):
   after ``+``/``00``/``011`` a number possible for its country code, any country; otherwise
   one possible in a region of ``REGIONS``, grouped the way that region writes it and with the
   trunk prefix where it writes one, so "555 777 6001 110 patients" keeps "110". What no
   reading claims goes if it holds 10+ unexplained digits, 8+ punctuated, or follows a cue
   word ("call", "tel:", "WhatsApp").
5. Links (``_urls``): query values and path segments that are numbers (``wa.me/1555...``,
   ``?phone=+1555...``); a path's slashes never join digits into one number.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata
from phonenumbers import PhoneNumberFormat as Format

# Keep phonenumbers' compiled metadata patterns: across REGIONS they overflow the re module's
# 512-entry cache, and recompiling them was half the cost of a paste.
phonenumbers.enable_pattern_cache()

PLACEHOLDER = "[number removed]"
# National formats are tried in these regions, +/00/011 numbers under every country code.
# PhoneNumberMatcher over all 245 regions took 0.8 s on one 1,600-character paste, and with
# leniency VALID it reads "030 12345678 110" as one German number.
_REGION_CODES = (
    "US GB IE DE AT CH FR BE NL ES PT IT DK NO SE FI PL CZ GR TR RU UA IL AE SA EG ZA NG KE IN PK "
    "BD CN HK TW JP KR SG MY TH VN PH ID AU NZ BR AR MX CO CL"
)
REGIONS = tuple(_REGION_CODES.split())
# Beyond these (hostile input: a paste of digit soup) chains get only the leftover rule.
_ANALYSED_CHAINS, _ANALYSED_GROUPS = 24, 32


@dataclass(frozen=True)
class Redacted:
    """What may be published (``text``) and how it was made, for the moderator's preview."""

    text: str
    pieces: tuple[tuple[str, bool], ...]  # in order; True marks a PLACEHOLDER
    removed: tuple[str, ...]  # the original text of each removed span: never published

    @property
    def count(self) -> int:
        return len(self.removed)


_DASHES = frozenset("‐‑‒–—―−⁻₋﹘﹣－")
_CUT = "\x00"  # stands in the view for an identifier: not a digit, never joins one
_NB, _NA = r"(?<!\d)(?<!\d[-./_,~+])", r"(?!\d)(?![-./_,~+]\d)"  # not inside a longer number
_ON = r"(?!\d)(?! ?[-/_~+]? ?\d)(?![.,]\d)"  # "PMID: 555 777 6001" is not a PMID
_STRONG = re.compile(
    rf"\b(?:PMIDs?|PubMed(?:\s?ID)?)\s?[:#=]?\s?\d{{1,8}}{_ON}|\bPMC(?:ID)?:?\s?(?:PMC)?\d{{4,8}}{_ON}"
    r"|(?:pubmed\.ncbi\.nlm\.nih\.gov|ncbi\.nlm\.nih\.gov/pubmed|europepmc\.org/(?:abstract|article)"
    r"/(?:MED|PMC))/(?:PMC)?\d{1,8}(?!\d)"
    r"|\b10\.\d{4,9}/[^\s\"<>?#&]+"  # a DOI, up to a query string
    r"|\b(?:NCT\d{8}|ISRCTN\d{8}|ACTRN\d{14}|ChiCTR[-A-Z]{0,5}\d{6,12}|DRKS\d{8}|UMIN\d{9}"
    r"|jRCT[a-z]?\d{6,10}|CRD\d{11}|KCT\d{7}|PACTR\d{15}|CTRI/\d{4}/\d{2,3}/\d{6}|rs\d{3,12}"
    r"|WOS:\d{15}|2-s2\.0-\d{10,11}|s\d{5}-\d{3}-\d{4,5}-[\dx]|S\d{4}-?\d{3}[\dX]\(?\d\d\)?\d{5}-?[\dX])\b"
    rf"|{_NB}\d{{4}}-\d{{6}}-\d\d{_NA}"  # EudraCT
    r"|\barxiv(?:\.org/(?:abs|pdf))?[:/]\s?\d{4}\.\d{4,5}(?:v\d+)?"
    r"|\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"
    r"|(?<![0-9a-z])(?=[0-9]*[a-f])(?=[a-f]*[0-9])[0-9a-f]{16,}(?![0-9a-z])",
    re.IGNORECASE,
)
_ISBN13 = r"97[89](?:-\d{1,5}-\d{1,7}-\d{1,7}-| \d{1,5} \d{1,7} \d{1,7} |\d{9})\d"
_ISBN10 = r"\d{1,5}(?:-\d{1,7}-\d{1,7}-| \d{1,7} \d{1,7} |\d{7,8})[\dX]"
_CHECKED = [  # (check digit, pattern): each searched on its own, as they may overlap
    ("isbn", re.compile(rf"\bISBN(?:-1[03])?:?\s?({_ISBN13}|{_ISBN10})(?![\dX])", re.I)),
    ("isbn", re.compile(rf"{_NB}({_ISBN13}|\d{{1,5}}-\d{{1,7}}-\d{{1,7}}-[\dX]){_NA}", re.I)),
    ("orcid", re.compile(rf"{_NB}(\d{{4}}-\d{{4}}-\d{{4}}-\d{{3}}[\dX]){_NA}", re.I)),
    ("issn", re.compile(rf"{_NB}(\d{{4}}-\d{{3}}[\dX]){_NA}", re.I)),
]
_POPULATION = (
    r"(?:patients|participants|subjects|volunteers|adults|children|adolescents|infants|men"
    r"|women|people|persons|individuals|cases|controls|users|smokers|respondents|rats|mice"
    r"|animals|eyes|samples|studies|articles|records)\b"
)
_UNIT = (
    r"(?:%|mg|[µμu]g|mcg|ng|g|kg|ml|l|iu|mmol|[µμu]mol|nmol|mm|[µμu]m|nm|cm|h|hrs?|min|days?"
    r"|weeks?|wks?|months?|years?|yrs?|bpm|mmhg|kcal|cells|x)(?![^\W\d_])"
)
_COUNT, _DECIMAL = r"(?:[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,6})", r"\d{1,4}[.,]\d{1,4}"
_HARD = re.compile(  # quantities whatever surrounds them
    rf"{_NB}(?:1[89]|20)\d\d{_NA}"  # a year
    rf"|{_NB}[1-9]\d{{0,3}}\((?:suppl\.?\s?)?\d{{1,4}}(?:-\d{{1,4}})?\)(?! ?\d)"  # volume(issue)
    rf"|{_NB}(?:{_DECIMAL}(?: ?- ?{_DECIMAL})?|\d{{1,3}}(?:,\d{{3}})+){_NA}"  # 1.4, 1.1-2.3, 1,234
    rf"|{_NB}(?P<first>[1-9]\d{{0,4}}) ?- ?(?P<last>\d{{1,5}}){_NA}"  # a page range, checked
    rf"|{_NB}(?P<date>\d{{4}}-\d\d?-\d\d?|\d\d?[./-]\d\d?[./-](?:\d{{4}}|\d\d)){_NA}"
    rf"|{_NB}\d{{1,5}}(?=[^\W\d_])",  # 36th, 4B
    re.IGNORECASE,
)
_SOFT = re.compile(  # quantities by the word next to them, which a pasted number can move
    rf"{_NB}{_COUNT}{_NA}(?=[\s-](?:(?!(?:in|of|on|at|to|for|with|and|or|the)\b)[^\W\d_]+[\s-]){{0,2}}"
    rf"{_POPULATION})|\bn\s?[=:]\s?{_COUNT}{_NA}"
    rf"|{_NB}(?:0|[1-9]\d{{0,5}})(?:[.,]\d{{1,4}})?\s?{_UNIT}"  # a dose, a duration
    rf"|\b(?:vol|no|issue|pp?|pages?|fig|table|suppl|ch|ed|ref|abstract|rows?)\.?\s?\d{{1,5}}{_NA}",
    re.IGNORECASE,
)
_CHAIN = re.compile(r"\d+(?:(?: ?[-/\\_~·+] ?|\.(?! )|,(?! )| ?\(\+?|\) ?\(?| )\d+(?![^\W_]))*")
_TIGHT = frozenset("-./\\_~·,")  # a number is never cut out of digits joined by these
_CUE = re.compile(
    r"(?:[☎📞📱]|\b(?:tel|tele?phone|phone|mobile|mob|cell(?:phone)?|call|text|whatsapp|wa|sms|fax"
    r"|viber|telegram|callto|facetime|skype))(?: (?:me|us) (?:at|on|via)| (?:at|on))?"
    r"[ :=#./-]{0,3}\+?\(?$",
    re.IGNORECASE,
)
_URL = re.compile(
    r"(?:\bhttps?://|\bwww\.|\b(?:wa|t)\.me/|\bapi\.whatsapp\.com/)[^\s<>\"'`]+", re.I
)
_NUMBERISH = re.compile(r"\+?[\d ()\-./_,]+")
_NUMBER_KEY = re.compile(
    r"(?:phone|tel|mobile|cell|number|num|whatsapp|wa|sms|to|from|msisdn|contact|text|call)\w*",
    re.I,
)


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


def _check_digit_ok(kind: str, raw: str) -> bool:
    """ISSN and ISBN-10 (mod 11), ISBN-13 (mod 10), ORCID (ISO 7064 11,2)."""
    digits = re.sub(r"[^\dXx]", "", raw).upper()
    values = [10 if d == "X" else int(d) for d in digits]
    if kind == "issn":
        return sum(v * (8 - i) for i, v in enumerate(values)) % 11 == 0
    if kind == "orcid":
        total = 0
        for v in values[:15]:
            total = (total + v) * 2
        return values[15] == (12 - total % 11) % 11
    if len(values) == 13:
        return (
            "X" not in digits and sum(v * (1 + i % 2 * 2) for i, v in enumerate(values)) % 10 == 0
        )
    return (
        len(values) == 10
        and "X" not in digits[:9]
        and sum(v * (10 - i) for i, v in enumerate(values)) % 11 == 0
    )


def _weak_ok(match: re.Match[str]) -> bool:
    """Dates must be dates; page ranges run forwards by at most 1,000 ("1234-56" is 1234-1256)."""
    if match.group("date"):
        parts = [int(p) for p in re.split(r"[./-]", match.group("date"))]
        day_month = parts[1:] if parts[0] > 31 else parts[:2]
        return 1 <= min(day_month) <= 12 and max(day_month) <= 31
    if not match.group("first"):
        return True
    first, last = match.group("first"), match.group("last")
    end = int(first[: max(0, len(first) - len(last))] + last)
    return 0 <= end - int(first) <= 1000


def _spans(view: str) -> tuple[str, list[int]]:
    """The view with identifiers cut out, and for each character the number of the quantity it
    belongs to: positive for a year, page range..., negative for a count or dose, else 0."""
    work = list(view)
    cut = [m.span() for m in _STRONG.finditer(view)]
    cut += [
        m.span()
        for kind, rx in _CHECKED
        for m in rx.finditer(view)
        if _check_digit_ok(kind, m.group(1))
    ]
    for start, end in cut:
        work[start:end] = _CUT * (end - start)
    weak = [0] * len(view)
    for sign, pattern in ((-1, _SOFT), (1, _HARD)):
        for number, match in enumerate(pattern.finditer(view), start=1):
            if sign < 0 or _weak_ok(match):
                weak[match.start() : match.end()] = [sign * number] * (match.end() - match.start())
    return "".join(work), weak


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


@dataclass
class _Chain:
    """Digit groups joined by what people type inside numbers, as the pickers see them."""

    digits: list[str]
    spans: list[tuple[int, int]]  # in the view
    joins: list[str]  # joins[k] is what comes before group k ("" for the first)
    plus: list[bool]  # a '+' right before the group
    free: list[int]  # digits no quantity explains
    hard_free: list[int]  # digits no year, page range... explains
    weak: list[tuple[int, int]]  # the quantity of the group's first and last digit, or 0

    def cuts(self, a: int, b: int) -> bool:
        """Would taking groups a..b cut a number out of "555-777-6001" or a quantity?"""

        def tight(k: int) -> bool:
            return bool(self.joins[k].strip()) and set(self.joins[k].strip()) <= _TIGHT

        inner = "".join(self.joins[a + 1 : b + 1])
        opened = "(" in self.joins[a] and inner.count(")") == inner.count("(") + 1
        if inner.count("(") != inner.count(")") and not opened:
            return True  # "56789 (95% CI" is not one number
        left = a > 0 and (tight(a) or 0 != self.weak[a][0] == self.weak[a - 1][1])
        right = b + 1 < len(self.digits) and (
            tight(b + 1) or 0 != self.weak[b][1] == self.weak[b + 1][0]
        )
        return left or right

    def rank(self, a: int, b: int, judged: tuple) -> tuple:
        """International, valid, exactly grouped, most unexplained digits, one kind of
        separator, longest, leftmost."""
        kinds = {j.strip() or " " for j in self.joins[a + 1 : b + 1] if not {"(", ")"} & set(j)}
        digits = sum(map(len, self.digits[a : b + 1]))
        free = sum(self.hard_free[a : b + 1])
        intl, valid, exact, _ = judged
        return (intl, intl and valid, exact, free, len(kinds) <= 1, digits, valid, -a)


def _pick(chain: _Chain, cue: bool) -> list[tuple[int, int]]:
    """The phone numbers in a chain as (first, last) group indexes, best first (``rank``); a
    '+' always starts one. A short tail typed like the rest that turns an invalid number into
    a longer one goes too ("07700 900" + " 456")."""
    found, count = {}, len(chain.digits)
    for a in range(1 if cue else count):
        total = 0
        for b in range(a, min(count, a + 8)):
            total += len(chain.digits[b])
            if total > 17 or (b > a and chain.plus[b]):
                break
            if total < 7 or chain.cuts(a, b):
                continue
            free = sum(chain.free[a : b + 1])
            if free < 3 and not chain.plus[a] and not chain.digits[a].startswith("00"):
                continue  # a year range, a date: nothing to judge
            judged = _judge(tuple(chain.digits[a : b + 1]), chain.plus[a])
            trunk = judged and judged[2] and chain.digits[a].startswith("0")
            if judged and (judged[0] or free >= (3 if trunk else 5)):
                found[a, b] = judged
    taken, picked = [False] * count, []
    for a, b in sorted(found, key=lambda ab: chain.rank(*ab, found[ab]), reverse=True):
        if any(taken[a : b + 1]):
            continue
        while (a, b + 1) in found and not found[a, b][0] and len(chain.digits[b + 1]) <= 4:
            same = b > a and chain.joins[b + 1] == chain.joins[b] and chain.hard_free[b + 1]
            same = same and len(chain.digits[b + 1]) == len(chain.digits[b])
            digits = "".join(chain.digits[a : b + 1])
            short = [r for r in found[a, b + 1][3] if not _valid(digits, r)]
            if taken[b + 1] or not same or not short:
                break
            b += 1
        taken[a : b + 1] = [True] * (b - a + 1)
        picked.append((a, b))
    return picked


def _leftovers(chain: _Chain, free: list[int], cue: bool) -> list[tuple[int, int]]:
    """What no phonenumbers rule claimed still goes when it holds 10+ unexplained digits, 8+
    punctuated; after a cue word ("call", "tel:") the first 7 digits go whatever they are. A
    plain space next to an 8+ digit group splits (a list of PMIDs is not one number)."""
    runs: list[list[int]] = []
    for k in free:
        size = [len(chain.digits[i]) for i in (k - 1, k)] if k else [0, 0]
        apart = chain.joins[k] == " " and (max(size) >= 8 or min(size) >= 7)
        if runs and runs[-1][-1] == k - 1 and not apart:
            runs[-1].append(k)
        else:
            runs.append([k])
    chosen = []
    for run in runs:
        if cue and run[0] == 0:  # the number starts right after "call": its first 7 digits
            total, end = 0, len(run) - 1
            for i, k in enumerate(run):
                total += len(chain.digits[k])
                if total >= 7:
                    end = i
                    break
            if total >= 6:
                chosen.append((0, run[end]))
            run = run[end + 1 :]
        while run and not chain.free[run[0]]:
            run.pop(0)
        while run and not chain.free[run[-1]]:
            run.pop()
        count = sum(chain.free[k] for k in run)
        punctuated = any(chain.joins[k] != " " for k in run[1:])
        if run and (count >= 10 or (count >= 8 and punctuated)):
            chosen.append((run[0], run[-1]))
    return chosen


def _widen(view: str, start: int, end: int) -> tuple[int, int]:
    """A '+' and unbalanced brackets right around a number belong to it."""
    if view[max(0, start - 2) : start] == "+ ":
        start -= 2
    elif start and view[start - 1] == "+":
        start -= 1
    inside = view[start:end]
    if start and view[start - 1] == "(" and inside.count(")") > inside.count("("):
        start -= 1
    if view[end : end + 1] == ")" and inside.count("(") > inside.count(")"):
        end += 1
    return start, end


def _chains(view: str, work: str, weak: list[int], in_url: bytearray) -> list[tuple[int, int]]:
    removals = []
    for index, match in enumerate(_CHAIN.finditer(work)):
        spans = [
            (m.start() + match.start(), m.end() + match.start())
            for m in re.finditer(r"\d+", match.group())
        ]
        if sum(e - s for s, e in spans) < 6:
            continue
        chain = _Chain(
            digits=[view[s:e] for s, e in spans],
            spans=spans,
            joins=["(" if view[spans[0][0] - 1 : spans[0][0]] == "(" else ""]
            + [view[spans[k - 1][1] : spans[k][0]] for k in range(1, len(spans))],
            plus=[view[max(0, s - 2) : s].endswith(("+", "+ ")) for s, _ in spans],
            free=[sum(1 for i in range(s, e) if not weak[i]) for s, e in spans],
            hard_free=[sum(1 for i in range(s, e) if weak[i] <= 0) for s, e in spans],
            weak=[(weak[s], weak[e - 1]) for s, e in spans],
        )
        cue = bool(_CUE.search(view[max(0, match.start() - 30) : match.start()]))
        analysed = index < _ANALYSED_CHAINS and len(spans) <= _ANALYSED_GROUPS
        picked = _pick(chain, cue) if analysed else []
        taken = {k for a, b in picked for k in range(a, b + 1)}
        long_ids = {k for k, (s, e) in enumerate(spans) if in_url[s] and e - s > 15}  # status ids
        free = [k for k in range(len(spans)) if k not in taken | long_ids]
        for a, b in picked + _leftovers(chain, free, cue):
            removals.append(_widen(view, spans[a][0], spans[b][1]))
    return removals


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
