"""BM25 ranking of ledger claims against a texted question.

Pure Python, no dependencies. The caller turns each claim into a :class:`Document` (claim text
plus its source's title/summary, concatenated), builds an :class:`Index` once, and searches it
per question; ``offset`` pages through the same ranking for "MORE".

Tokenizer (:func:`tokenize`), in order:

1. Unicode NFKC, then ``casefold`` (so "ＢＤＮＦ", "Bdnf" and "bdnf" are one token, and the
   micro sign "µ" becomes Greek "μ").
2. Split on anything that is not a letter or digit ("ACTH(4-10)" -> "acth", "4", "10";
   "healthy-subject" -> "healthy", "subject"). Underscores split too.
3. Drop :data:`STOPWORDS` (function words and question filler: "does", "it", "what", ...) and
   one-letter words. Numbers are kept ("110", "2018", "4", "1").
4. Stem words made only of letters with :func:`stem`; anything with a digit ("s2", "1mg") and
   anything of 3 characters or fewer ("rat", "bdnf" is 4 but has no suffix) keeps its form.
   Biomedical acronyms ("bdnf", "trkb", "acth", "adhd", "mrna") carry no English suffix, so
   the stemmer leaves them alone.
5. :data:`SYNONYMS`: some stems also emit a broader term right after themselves (see there).

Stemmer: steps 1a, 1b, 1c and 5 of Porter (1980) -- plurals, -ed/-ing, final y and final e --
and none of the derivational steps (so "neural" and "neuron" stay apart). Examples:
"patients" -> "patient", "studies"/"study"/"studied" -> "studi", "raises"/"raised"/"raising"/
"raise" -> "rais", "increased"/"increases" -> "increas", "dosing"/"doses"/"dose" -> "dose",
"use"/"used"/"using" -> "us", "rate" -> "rate" (not "rat": Porter keeps the e of a short
consonant-vowel-consonant stem).

Scoring: Okapi BM25 with k1 = 1.5, b = 0.75 and idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
which is always positive. Repeated query tokens count once (a question is short, and "BDNF
BDNF" should not outweigh "BDNF stroke"). The index is inverted (token -> postings of
(doc index, term frequency)), so a search reads only the postings of the question's tokens.
Ties are broken by tier (human, preclinical, anecdotal, then anything else) and then by key, so
the order is deterministic.

Relevance cut-off (how "nothing relevant" is detected): a document is a candidate only if it
shares at least one non-stopword token with the question, and it is returned only if its
score is strictly above ``min_score`` (default :data:`DEFAULT_MIN_SCORE` = 0.0, i.e. any
overlap). A question with no known token ("zzzz qqqq", or only stopwords) returns ``[]``.
Raw BM25 scores are not comparable across corpora, so a fixed positive default would mean
different things at 50 and 10,000 claims; callers that want a stricter cut can pass
``min_score``, or ``min_coverage`` (the share of the question's idf weight a document must
match; unknown question words weigh as much as the rarest known word). For example, in the
Semax article "does semax cure cancer" matches every claim through "semax" alone; with
``min_coverage=0.5`` it returns nothing, because "cure" and "cancer" carry almost all of the
question's weight.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MIN_SCORE",
    "STOPWORDS",
    "SYNONYMS",
    "TIER_ORDER",
    "Document",
    "Index",
    "stem",
    "tokenize",
]

K1 = 1.5
B = 0.75
DEFAULT_MIN_SCORE = 0.0

# Same order as ledger.models.TIERS (not imported: this module stays free of SQLAlchemy).
TIER_ORDER = ("human", "preclinical", "anecdotal")
_TIER_RANK = {tier: rank for rank, tier in enumerate(TIER_ORDER)}

# English function words plus the filler of texted questions. Matched before stemming, on the
# casefolded word. Content words a question can hinge on are deliberately *not* here: "effect",
# "side", "help", "work", "take", "safe", "human", "people" (see SYNONYMS), "no"/"not".
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any anyone anything are as at
    be been being but by can could did do does doing done during each else ever for from
    get gets got had has have having he her here hers him his how i if in into is it its
    itself just me might more most my of on once only or other our ours out over own please
    really she should so some someone something such t than that the their theirs them
    then there these they this those through to too under until up us very was we were what
    when where whether which while who whom why will with would yet you your yours
    tell know anybody thing things people say says said help helps helped work works worked
    """.split()
)

# Broader terms a word also emits (the word itself is kept). Written as words; SYNONYMS below
# holds the same mapping on stems, which is what tokenize() looks up, so every inflection
# ("patient", "patients") maps alike. Why adding rather than replacing: a question about rats should still prefer
# rat studies over mouse studies (the rarer exact word has the higher idf), while a question
# worded as "patients" or "people" still reaches claims worded "human", and "mice"/"rodents"
# reach "animal" model claims. Only mappings that connect the ledger's own vocabulary
# (tier words "human" and "animal", as the articles print them) to how people ask are listed.
# "people" is a synonym, not a stopword: "does it raise BDNF in people?" is the canonical
# question and means human evidence.
_SYNONYM_WORDS: dict[str, tuple[str, ...]] = {
    "patient": ("human",),
    "participant": ("human",),
    "volunteer": ("human",),
    "rat": ("animal",),
    "mice": ("mouse", "animal"),
    "mouse": ("animal",),
    "rodent": ("animal",),
}

_SPLIT = re.compile(r"[\W_]+")
_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(word: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``word``."""
    m, prev_vowel = 0, False
    for i in range(len(word)):
        consonant = _is_consonant(word, i)
        if consonant and prev_vowel:
            m += 1
        prev_vowel = not consonant
    return m


def _has_vowel(word: str) -> bool:
    return any(not _is_consonant(word, i) for i in range(len(word)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (a short syllable: "hop")."""
    n = len(word)
    return (
        n >= 3
        and _is_consonant(word, n - 3)
        and not _is_consonant(word, n - 2)
        and _is_consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


def stem(word: str) -> str:
    """Porter steps 1a, 1b, 1c and 5 on a casefolded word; see the module docstring.

    Words of 1-2 characters and anything that is not all ASCII letters are returned as they
    are (numbers, "s2", non-Latin words).
    """
    if len(word) <= 2 or not (word.isascii() and word.isalpha()):
        return word
    # Step 1a: plurals.
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # Step 1b: -eed, -ed, -ing.
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            base = word[: -len(suffix)]
            if word.endswith(suffix) and _has_vowel(base):
                word = base
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif _double_consonant(word) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _cvc(word):
                    word += "e"
                break
    # Step 1c: final y after a vowel-bearing stem becomes i ("study" and "studies" agree).
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    # Step 5a: final e, unless it protects a short syllable ("rate", "dose", "stroke").
    if word.endswith("e"):
        base = word[:-1]
        m = _measure(base)
        if m > 1 or (m == 1 and not _cvc(base)):
            word = base
    # Step 5b: -ll after a long stem ("controll" -> "control").
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


SYNONYMS: dict[str, tuple[str, ...]] = {
    stem(word): tuple(stem(extra) for extra in extras) for word, extras in _SYNONYM_WORDS.items()
}


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` as indexed and searched; see the module docstring for the rules."""
    tokens: list[str] = []
    for raw in _SPLIT.split(unicodedata.normalize("NFKC", text).casefold()):
        if not raw or raw in STOPWORDS or (len(raw) == 1 and not raw.isdigit()):
            continue
        token = stem(raw)
        tokens.append(token)
        tokens.extend(SYNONYMS.get(token, ()))
    return tokens


@dataclass(frozen=True)
class Document:
    key: int  # claim id
    text: str  # claim text + its source title/summary, concatenated by the caller
    tier: str
    sid: str | None = None


class Index:
    """An immutable BM25 index over a fixed set of documents; build it with :meth:`build`."""

    def __init__(
        self,
        docs: tuple[Document, ...],
        postings: dict[str, list[tuple[int, int]]],
        lengths: list[int],
    ) -> None:
        self._docs = docs
        self._postings = postings
        n = len(docs)
        avgdl = (sum(lengths) / n) if n else 0.0
        # K1 * (1 - b + b * dl / avgdl), precomputed per document.
        self._norm = [K1 * (1 - B + B * (dl / avgdl if avgdl else 0.0)) for dl in lengths]
        self._idf = {
            token: math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for token, plist in postings.items()
        }
        # The idf an unknown question word would have if it were in one document: used only as
        # its weight in min_coverage (it can never add to a score).
        self._unknown_idf = math.log(1 + (n - 1 + 0.5) / 1.5) if n else 0.0
        self._order = [
            (_TIER_RANK.get(doc.tier, len(TIER_ORDER)), doc.key, i) for i, doc in enumerate(docs)
        ]

    @classmethod
    def build(cls, docs: Iterable[Document]) -> Index:
        docs = tuple(docs)
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths: list[int] = []
        for i, doc in enumerate(docs):
            counts: dict[str, int] = {}
            tokens = tokenize(doc.text)
            for token in tokens:
                counts[token] = counts.get(token, 0) + 1
            lengths.append(len(tokens))
            for token, tf in counts.items():
                postings.setdefault(token, []).append((i, tf))
        return cls(docs, postings, lengths)

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def documents(self) -> tuple[Document, ...]:
        return self._docs

    def search(
        self,
        query: str,
        limit: int = 3,
        offset: int = 0,
        min_score: float = DEFAULT_MIN_SCORE,
        min_coverage: float = 0.0,
    ) -> list[tuple[Document, float]]:
        """The best ``limit`` documents after skipping ``offset``, as (document, score) pairs.

        Sorted by score (highest first), then tier (human first), then key. Only documents
        sharing a token with ``query`` and scoring above ``min_score`` are returned, so an
        irrelevant question gives ``[]``. ``min_coverage`` (0..1) additionally requires a
        document to match that share of the question's total idf weight. Paging with the same
        arguments and growing ``offset`` yields disjoint slices of one ranking.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        if limit == 0 or not self._docs:
            return []
        terms = list(dict.fromkeys(tokenize(query)))
        scores: dict[int, float] = {}
        matched: dict[int, float] = {}
        total_weight = 0.0
        for term in terms:
            plist = self._postings.get(term)
            if plist is None:
                total_weight += self._unknown_idf
                continue
            idf = self._idf[term]
            total_weight += idf
            norm = self._norm
            for i, tf in plist:
                scores[i] = scores.get(i, 0.0) + idf * tf * (K1 + 1) / (tf + norm[i])
                if min_coverage > 0:
                    matched[i] = matched.get(i, 0.0) + idf
        if not scores:
            return []
        order = self._order
        need = total_weight * min_coverage
        candidates = [
            (-score, *order[i])
            for i, score in scores.items()
            if score > min_score and (min_coverage <= 0 or matched[i] >= need)
        ]
        top = heapq.nsmallest(offset + limit, candidates)[offset:]
        return [(self._docs[entry[3]], -entry[0]) for entry in top]
