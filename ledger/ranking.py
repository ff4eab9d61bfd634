"""BM25 ranking of ledger claims against a texted question.

Pure Python, no dependencies. The caller turns each claim into a :class:`Document` (claim text
plus its source's title/summary, concatenated), adds it to an :class:`Index`, and searches it
per question; ``offset`` pages through the same ranking for "MORE".

The index grows: claims are append-only, so a new claim is *added* (:meth:`Index.add`) and
nothing is rebuilt. Only integers are stored per claim (its token counts in the postings, its
length, key and tier); N, df and the average length are derived from them at search time, so
an index grown one claim at a time ranks exactly as one built at once from the same claims.
Postings are ``array`` columns (document numbers and term frequencies), a few bytes per
(token, claim) pair instead of a dict entry each: at 100,000 claims the whole index is a small
fraction of what the claim texts take, and the texts are not kept unless asked
(``keep_documents``): a caller that can read the few texts it shows by key need not hold them.

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
from array import array
from bisect import bisect_left
from collections import Counter
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
_K1_PLUS_1 = K1 + 1
# A common token's postings are looked up per candidate (bisection) when there are this many
# times fewer candidates than postings; otherwise they are walked once.
_BISECT_RATIO = 16

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
    """A BM25 index that grows by :meth:`add`; :meth:`build` makes one from a batch.

    ``keep_documents=False`` stores only each document's key and tier: search results are then
    Documents with an empty ``text`` and no ``sid``, for a caller that reads those by key.
    Not thread-safe: a caller sharing one index between threads holds a lock around it.
    """

    def __init__(self, keep_documents: bool = True) -> None:
        self._kept: list[Document] | None = [] if keep_documents else None
        self._keys = array("q")
        self._tiers = array("H")  # an index into _tier_names
        self._tier_names: list[str] = []
        self._tier_codes: dict[str, int] = {}
        self._lengths = array("I")  # tokens per document (dl)
        self._total = 0  # sum of the lengths
        # token -> (document numbers, ascending; their term frequencies)
        self._postings: dict[str, tuple[array, array]] = {}
        # K1 * (1 - b + b * dl / avgdl) for the first _norm_n documents: a list, not an array,
        # because the scoring loop indexes it per posting and a list hands back its floats
        # without boxing a new one each time.
        self._norm: list[float] = []
        self._norm_n = 0

    @classmethod
    def build(cls, docs: Iterable[Document], keep_documents: bool = True) -> Index:
        index = cls(keep_documents)
        for doc in docs:
            index.add(doc)
        return index

    def add(self, doc: Document) -> None:
        """Append one document; every statistic stays what a fresh build would compute."""
        i = len(self._keys)
        counts = Counter(tokenize(doc.text))
        for token, tf in counts.items():
            plist = self._postings.get(token)
            if plist is None:
                plist = self._postings[token] = (array("I"), array("B"))
            if tf > 255 and plist[1].typecode == "B":  # rare: widen this token's column
                plist = self._postings[token] = (plist[0], array("I", plist[1]))
            plist[0].append(i)
            plist[1].append(tf)
        code = self._tier_codes.get(doc.tier)
        if code is None:
            code = self._tier_codes[doc.tier] = len(self._tier_names)
            self._tier_names.append(doc.tier)
        self._keys.append(doc.key)
        self._tiers.append(code)
        length = sum(counts.values())
        self._lengths.append(length)
        self._total += length
        if self._kept is not None:
            self._kept.append(doc)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def documents(self) -> tuple[Document, ...]:
        return tuple(self._document(i) for i in range(len(self._keys)))

    @property
    def average_length(self) -> float:
        n = len(self._keys)
        return (self._total / n) if n else 0.0

    def df(self, token: str) -> int:
        """How many documents hold ``token``."""
        plist = self._postings.get(token)
        return len(plist[0]) if plist else 0

    def is_common(self, token: str) -> bool:
        """True if ``token`` is in more than half of the documents (counting one extra
        document without it: 2 * df > N + 1, so a one-document index has no common tokens)."""
        return 2 * self.df(token) > len(self._keys) + 1

    def _document(self, i: int) -> Document:
        if self._kept is not None:
            return self._kept[i]
        return Document(self._keys[i], "", self._tier_names[self._tiers[i]], None)

    def _idf(self, plist: tuple[array, array]) -> float:
        n, df = len(self._keys), len(plist[0])
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _norms(self) -> list[float]:
        """Per-document length norms, recomputed once after documents were added (avgdl
        moved), so searches between additions cost no more than on a fixed index."""
        n = len(self._keys)
        if self._norm_n != n:
            avgdl = self.average_length
            self._norm = [K1 * (1 - B + B * (dl / avgdl if avgdl else 0.0)) for dl in self._lengths]
            self._norm_n = n
        return self._norm

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
        rare: list[tuple[array, array]] = []
        common: list[tuple[array, array]] = []
        for term in dict.fromkeys(tokenize(query)):
            plist = self._postings.get(term)
            if plist is not None:
                (common if self.is_common(term) else rare).append(plist)
        if not rare:
            return []
        scores = self._scores(rare, common)
        if min_score > 0.0:  # scores are always positive, so 0.0 (the default) cuts nothing
            scores = {i: s for i, s in scores.items() if s > min_score}
        top = self._ranked(scores, offset + limit, prefer)[offset:]
        return [(self._document(i), -neg) for neg, _rank, _key, i in top]

    def _scores(self, rare: list, common: list) -> dict[int, float]:
        """BM25 of every candidate: rare tokens admit and score, common tokens only add.

        Each document's terms are summed in the question's order, whichever way a common
        token's postings are read, so the floats do not depend on the index's history.
        """
        norm = self._norms()
        idf = self._idf(rare[0])
        # 0.0 + x is x: starting from the first token's terms is the same sum, and quicker.
        scores = {i: idf * tf * _K1_PLUS_1 / (tf + norm[i]) for i, tf in zip(*rare[0], strict=True)}
        for plist in rare[1:]:
            idf = self._idf(plist)
            for i, tf in zip(*plist, strict=True):
                scores[i] = scores.get(i, 0.0) + idf * tf * _K1_PLUS_1 / (tf + norm[i])
        for plist in common:
            idf = self._idf(plist)
            docs, tfs = plist
            if len(scores) * _BISECT_RATIO < len(docs):
                size = len(docs)
                for i in scores:
                    j = bisect_left(docs, i)
                    if j < size and docs[j] == i:
                        tf = tfs[j]
                        scores[i] += idf * tf * _K1_PLUS_1 / (tf + norm[i])
            else:
                for i, tf in zip(docs, tfs, strict=True):
                    if i in scores:
                        scores[i] += idf * tf * _K1_PLUS_1 / (tf + norm[i])
        return scores

    def _ranked(self, scores: dict[int, float], k: int, prefer: str | None) -> list[tuple]:
        """The first ``k`` candidates as (-score, tier rank, key, doc number), preferred tier
        first. Only candidates scoring at least the k-th best score of their group are sorted:
        with tens of thousands of candidates, building a tuple for each costs more than the
        scoring itself."""
        if prefer is None:
            return self._best(scores, k)
        code = self._tier_codes.get(prefer)
        tiers = self._tiers
        first = {i: s for i, s in scores.items() if tiers[i] == code}
        if len(first) >= k:
            return self._best(first, k)
        rest = {i: s for i, s in scores.items() if tiers[i] != code}
        return self._best(first, k) + self._best(rest, k - len(first))

    def _best(self, scores: dict[int, float], k: int) -> list[tuple]:
        if k <= 0 or not scores:
            return []
        if len(scores) > k:
            cut = heapq.nlargest(k, scores.values())[-1]
            chosen = [i for i, s in scores.items() if s >= cut]
        else:
            chosen = list(scores)
        keys, tiers, names, other = self._keys, self._tiers, self._tier_names, len(TIER_ORDER)
        return sorted(
            (-scores[i], _TIER_RANK.get(names[tiers[i]], other), keys[i], i) for i in chosen
        )[:k]
