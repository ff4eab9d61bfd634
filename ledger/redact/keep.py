"""What is never a phone number: identifiers cut out of the view, quantities marked in it.

A PMID, DOI, trial registry id, ISBN/ISSN/ORCID with a valid check digit, timestamp or digest
is cut out before any digit chain is read, so it can neither be removed nor lend its digits to
a number. Years, page ranges, volume(issue), decimals and dates (hard), and counts, doses and
"vol. 12" (soft, as they hang on the next word) are marked so no number is cut out of one and
their digits count as explained when the pickers weigh a candidate.
"""

from __future__ import annotations

import re

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
