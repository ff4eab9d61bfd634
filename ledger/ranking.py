"""BM25 ranking of ledger claims against a texted question.

Pure Python, no dependencies. The caller turns each claim into a :class:`Document` (claim text
plus its source's title/summary, concatenated), builds an :class:`Index` once, and searches it
per question; ``offset`` pages through the same ranking for "MORE".

Questions and documents are split into tokens by :func:`ledger.tokens.tokenize`.

Scoring: Okapi BM25 with k1 = 1.5, b = 0.75 and idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
which is always positive. Repeated query tokens count once (a question is short, and "BDNF
BDNF" should not outweigh "BDNF stroke"). The index is inverted (token -> postings of
(doc index, term frequency)), so a search reads only the postings of the question's tokens.
Ties are broken by tier (human, preclinical, anecdotal, then anything else) and then by key, so
the order is deterministic.

Relevance cut-off (how "nothing relevant" is detected):

- A document is a candidate only if it shares with the question at least one token that is
  *not common*, where common means "in more than half of the documents" (computed as
  2 * df > N + 1, i.e. as if one more document lacked the token, so the only token of a
  one-document index is not common). Common tokens still add to the score of candidates. In an
  article's own claims the compound's name is in nearly every claim, so "does semax cure
  cancer" or "is semax safe for kids" returns ``[]`` instead of three claims that merely say
  "Semax". A question with no known token ("zzzz qqqq") or only stopwords also returns ``[]``.
  A question made only of common words ("what is semax") returns ``[]`` too: the caller
  should answer that from the article summary, not from claims.
- The score must be strictly above ``min_score`` (default :data:`DEFAULT_MIN_SCORE` = 0.0).
  BM25 idf is always positive, so 0.0 means "any candidate". Raw BM25 scores are not
  comparable across corpora of different sizes, which is why the default cut is the
  common-token rule above rather than a fixed score.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.tokens import STOPWORDS, SYNONYMS, stem, tokenize

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


@dataclass(frozen=True)
class Document:
    key: int  # claim id
    text: str  # claim text + its source title/summary, concatenated by the caller
    tier: str
    sid: str | None = None


class Index:
    """An immutable BM25 index over a fixed set of documents; build it with :meth:`build`."""

    def __init__(self, docs: tuple[Document, ...], postings: dict[str, dict[int, int]]) -> None:
        # Use build(); this takes the postings as build() makes them: token -> {doc index: tf}.
        self._docs = docs
        self._postings = postings
        n = len(docs)
        lengths = [0] * n
        for plist in postings.values():
            for i, tf in plist.items():
                lengths[i] += tf
        avgdl = (sum(lengths) / n) if n else 0.0
        # K1 * (1 - b + b * dl / avgdl), precomputed per document.
        self._norm = [K1 * (1 - B + B * (dl / avgdl if avgdl else 0.0)) for dl in lengths]
        self._idf = {
            token: math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for token, plist in postings.items()
        }
        self._sort_key = [(_TIER_RANK.get(doc.tier, len(TIER_ORDER)), doc.key) for doc in docs]

    @classmethod
    def build(cls, docs: Iterable[Document]) -> Index:
        docs = tuple(docs)
        postings: dict[str, dict[int, int]] = {}
        for i, doc in enumerate(docs):
            for token in tokenize(doc.text):
                plist = postings.setdefault(token, {})
                plist[i] = plist.get(i, 0) + 1
        return cls(docs, postings)

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def documents(self) -> tuple[Document, ...]:
        return self._docs

    def is_common(self, token: str) -> bool:
        """True if ``token`` is in more than half of the documents (counting one extra
        document without it: 2 * df > N + 1, so a one-document index has no common tokens)."""
        plist = self._postings.get(token)
        return plist is not None and 2 * len(plist) > len(self._docs) + 1

    def search(
        self,
        query: str,
        limit: int = 3,
        offset: int = 0,
        min_score: float = DEFAULT_MIN_SCORE,
        prefer: str | None = None,
    ) -> list[tuple[Document, float]]:
        """The best ``limit`` documents after skipping ``offset``, as (document, score) pairs.

        Sorted by score (highest first), then tier (human, preclinical, anecdotal, other), then
        key. A document is returned only if it contains at least one of the question's tokens
        that is not common (see :meth:`is_common`) and its score is above ``min_score``; common
        tokens only add to the score of such documents. So "zzzz qqqq", a question of
        stopwords, or "does semax cure cancer" asked of the Semax article (where "semax" is
        in every claim) all give ``[]``. Calls that differ only in ``offset`` page through one
        ranking: their results are disjoint.

        ``prefer`` names a tier the question asks about ("in people" → human): every candidate
        of that tier comes before every other candidate, each group in the order above. The
        set of candidates is the same; only its order changes.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        if limit == 0:
            return []
        rare: list[str] = []
        common: list[str] = []
        for term in dict.fromkeys(tokenize(query)):
            if term in self._postings:
                (common if self.is_common(term) else rare).append(term)
        if not rare:
            return []
        norm = self._norm
        scores: dict[int, float] = {}
        for term in rare:
            idf = self._idf[term]
            for i, tf in self._postings[term].items():
                scores[i] = scores.get(i, 0.0) + idf * tf * (K1 + 1) / (tf + norm[i])
        for term in common:  # only adds to documents a rare term already matched
            idf = self._idf[term]
            plist = self._postings[term]
            for i in scores:
                tf = plist.get(i)
                if tf:
                    scores[i] += idf * tf * (K1 + 1) / (tf + norm[i])
        sort_key, docs = self._sort_key, self._docs
        candidates = [
            (prefer is not None and docs[i].tier != prefer, -score, *sort_key[i], i)
            for i, score in scores.items()
            if score > min_score
        ]
        top = heapq.nsmallest(offset + limit, candidates)[offset:]
        return [(docs[i], -neg) for _other, neg, _tier, _key, i in top]
