"""First-pass analysis of evidence that contributors paste into the bot.

The result is a *suggestion* shown to the contributor and to reviewers, so
every rule is a plain keyword/host check whose outcome can be explained in one
sentence (``Analysis.reason``). Nothing is fetched and attached media are never
opened; ``media_types`` only lets the reason mention that media came along when
the text itself carries no markers.

Identifiers:

* URLs: ``http://`` or ``https://`` up to whitespace; trailing ``. , ; : ! ?``
  quotes and closing brackets that are not balanced inside the URL are dropped
  (so "(see https://x.org/a_(b))." keeps "a_(b)").
* PMIDs: "PMID 123", "PMID: 123", "PMID:123" (any case), plus the number in
  pubmed.ncbi.nlm.nih.gov/<n> and ncbi.nlm.nih.gov/pubmed/<n> URLs.
* DOIs: ``10.<4-9 digits>/<non-space>`` with trailing punctuation trimmed as
  for URLs, also from percent-encoded doi.org URLs; lowercased, because DOIs
  are case-insensitive and we dedupe on them.
* NCT ids: "NCT" + 8 digits, uppercased.

Each list is deduplicated keeping first occurrence.

Source kind (first match wins): NCT id or clinicaltrials.gov URL -> trial;
PMID or PubMed URL -> pubmed; "review"/"meta-analysis" in the text together
with a DOI -> review; reddit.com/redd.it -> reddit; x.com/twitter.com -> x;
youtube.com/youtu.be -> youtube; instagram.com -> instagram; any DOI ->
journal; any other URL -> web; nothing -> other.

Suggested tier (first match wins; matching is case-insensitive on whole words):

1. anecdotal -- the kind is reddit, x, youtube or instagram: a social post is
   a report, whatever it cites;
2. anecdotal -- first-person use: "I took", "I tried", "my experience",
   "I've been taking" / "I have been taking";
3. preclinical -- rat, rats, mice, mouse, murine, in vitro, cell culture,
   animal model, zebrafish, rodent(s);
4. human -- patients, participants, volunteers, randomized/randomised,
   double-blind, placebo, clinical trial, or the kind is trial;
5. anecdotal -- no study markers found.

Preclinical is checked before human on purpose: "rats were randomized" is an
animal study, and a human trial rarely mentions rodents.

All patterns are literals or single character classes with no nested
quantifiers, so scanning is linear in the paste length even on hostile input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["Analysis", "analyze"]


@dataclass(frozen=True)
class Analysis:
    urls: tuple[str, ...]
    pmids: tuple[str, ...]
    dois: tuple[str, ...]
    nct_ids: tuple[str, ...]
    source_kind: str
    suggested_tier: str
    reason: str

    def identifiers(self) -> dict[str, list[str]]:
        """Lists rather than tuples so the result can go straight into JSON."""
        return {
            "urls": list(self.urls),
            "pmids": list(self.pmids),
            "dois": list(self.dois),
            "nct_ids": list(self.nct_ids),
        }


_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_PMID = re.compile(r"\bPMID\s*(?::\s*)?([0-9]{1,9})(?![0-9])", re.IGNORECASE)
_PUBMED_URL_PMID = re.compile(
    r"^(?:pubmed\.ncbi\.nlm\.nih\.gov/|(?:www\.)?ncbi\.nlm\.nih\.gov/pubmed/)([0-9]{1,9})(?![0-9])"
)
_DOI = re.compile(r"\b10\.[0-9]{4,9}/[^\s<>\"'`]+")
_NCT = re.compile(r"\bNCT[0-9]{8}\b", re.IGNORECASE)
_REVIEW = re.compile(r"\b(?:review|meta[- ]?analys[ie]s)\b", re.IGNORECASE)

_FIRST_PERSON = re.compile(
    r"\b(?:i took|i tried|my experience|i['’]ve been taking|i have been taking)\b",
    re.IGNORECASE,
)
_PRECLINICAL = re.compile(
    r"\b(?:rats?|mice|mouse|murine|in[- ]vitro|cell cultures?|animal models?|zebrafish|rodents?)\b",
    re.IGNORECASE,
)
_HUMAN = re.compile(
    r"\b(?:patients|participants|volunteers|randomi[sz]ed|double[- ]blind(?:ed)?|placebo"
    r"|clinical trials?)\b",
    re.IGNORECASE,
)

_TRAILING = ".,;:!?'\""
_PAIRS = {")": "(", "]": "[", "}": "{"}

# Checked after the trial/pubmed/review rules, in this order.
_SOCIAL_HOSTS = (
    (("reddit.com", "redd.it"), "reddit"),
    (("x.com", "twitter.com"), "x"),
    (("youtube.com", "youtu.be"), "youtube"),
    (("instagram.com",), "instagram"),
)
_SOCIAL_KINDS = frozenset({"reddit", "x", "youtube", "instagram"})


def _trim(candidate: str) -> str:
    """Drop sentence punctuation glued to the end, keeping balanced brackets."""
    opens = {close: candidate.count(open_) for close, open_ in _PAIRS.items()}
    closes = {close: candidate.count(close) for close in _PAIRS}
    end = len(candidate)
    while end:
        char = candidate[end - 1]
        if char in _TRAILING:
            end -= 1
        elif char in _PAIRS and closes[char] > opens[char]:
            closes[char] -= 1
            end -= 1
        else:
            break
    return candidate[:end]


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _split_url(url: str) -> tuple[str, str]:
    """Return (host, host + path) without urllib, which raises on odd ports/IPv6."""
    rest = url.split("://", 1)[1] if "://" in url else url
    cut = len(rest)
    for sep in "?#":
        index = rest.find(sep)
        if index != -1:
            cut = min(cut, index)
    rest = rest[:cut]
    authority, _, path = rest.partition("/")
    host = authority.rpartition("@")[2].partition(":")[0].lower().rstrip(".")
    return host, f"{host}/{path}"


def _host_is(host: str, domains: Iterable[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _doi_from_url(host: str, host_path: str) -> str | None:
    if not _host_is(host, ("doi.org",)):
        return None
    match = _DOI.search(unquote(host_path))
    return _trim(match.group(0)).lower() if match else None


def _kind(
    text: str,
    hosts: Sequence[str],
    pmids: Sequence[str],
    dois: Sequence[str],
    nct_ids: Sequence[str],
) -> str:
    if nct_ids or any(_host_is(h, ("clinicaltrials.gov",)) for h in hosts):
        return "trial"
    if pmids or any(_host_is(h, ("pubmed.ncbi.nlm.nih.gov",)) for h in hosts):
        return "pubmed"
    if dois and _REVIEW.search(text):
        return "review"
    for domains, kind in _SOCIAL_HOSTS:
        if any(_host_is(h, domains) for h in hosts):
            return kind
    if dois:
        return "journal"
    if hosts:
        return "web"
    return "other"


def _tier(text: str, kind: str, media_types: Sequence[str]) -> tuple[str, str]:
    if kind in _SOCIAL_KINDS:
        return "anecdotal", f"anecdotal: source kind is {kind}"
    for tier, pattern, label in (
        ("anecdotal", _FIRST_PERSON, "first-person use"),
        ("preclinical", _PRECLINICAL, "mentions"),
        ("human", _HUMAN, "mentions"),
    ):
        match = pattern.search(text)
        if match:
            word = match.group(0).replace("’", "'")
            if tier != "anecdotal":
                word = word.lower()
            return tier, f'{tier}: {label} "{word}"'
    if kind == "trial":
        return "human", "human: source kind is trial"
    reason = "anecdotal: no study markers found"
    if media_types:
        reason += f" (media attached: {', '.join(media_types)})"
    return "anecdotal", reason


def analyze(paste: str, media_types: Sequence[str] = ()) -> Analysis:
    """Extract identifiers and suggest a kind and tier; see the module docstring."""
    text = paste or ""
    if isinstance(media_types, str):
        media_types = (media_types,)
    media = [str(item) for item in media_types if item]

    urls = _dedupe(_trim(m.group(0)) for m in _URL.finditer(text))
    url_parts = [_split_url(url) for url in urls]
    hosts = [host for host, _ in url_parts if host]

    pmid_list = [m.group(1) for m in _PMID.finditer(text)]
    doi_list = [_trim(m.group(0)).lower() for m in _DOI.finditer(text)]
    for host, host_path in url_parts:
        match = _PUBMED_URL_PMID.match(host_path)
        if match:
            pmid_list.append(match.group(1))
        doi = _doi_from_url(host, host_path)
        if doi:
            doi_list.append(doi)
    pmids = _dedupe(pmid_list)
    dois = _dedupe(doi_list)
    nct_ids = _dedupe(m.group(0).upper() for m in _NCT.finditer(text))

    kind = _kind(text, hosts, pmids, dois, nct_ids)
    tier, reason = _tier(text, kind, media)
    return Analysis(
        urls=urls,
        pmids=pmids,
        dois=dois,
        nct_ids=nct_ids,
        source_kind=kind,
        suggested_tier=tier,
        reason=reason,
    )
