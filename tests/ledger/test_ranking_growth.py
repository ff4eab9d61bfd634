"""An index grown one claim at a time ranks exactly as one built at once from the same claims.

Claims are append-only, so the bot adds each new claim to the index it has instead of
rebuilding it (bot/catalogue/answers.py). That is only right if N, every df and the average
length after the additions are what a fresh build computes, and so is every ranking.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.models import TIERS
from ledger.ranking import Document, Index, tokenize
from tests.ledger.test_ranking import SEED_DOCS

_WORDS = st.sampled_from(
    ["bdnf", "stroke", "patients", "rats", "mice", "semax", "focus", "sleep", "the", "110"]
)
_TEXTS = st.one_of(st.text(max_size=60), st.lists(_WORDS, max_size=10).map(" ".join))
QUESTIONS = (
    "does it raise BDNF in stroke patients?",
    "what do rats show about BDNF",
    "semax focus",
    "sleep",
    "zzzz",
)


def ranking(index: Index, question: str, **kwargs) -> list[tuple[int, str, float]]:
    return [(doc.key, doc.tier, score) for doc, score in index.search(question, **kwargs)]


def statistics(index: Index, tokens: set[str]) -> tuple:
    return len(index), index.average_length, {token: index.df(token) for token in tokens}


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(_TEXTS, min_size=1, max_size=20),
    tiers=st.lists(st.sampled_from([*TIERS, "other"]), min_size=20, max_size=20),
    question=st.one_of(st.sampled_from(QUESTIONS), _TEXTS),
    prefer=st.sampled_from([None, *TIERS]),
    offset=st.integers(0, 5),
)
def test_adding_one_by_one_equals_a_fresh_build(texts, tiers, question, prefer, offset):
    docs = [Document(key=100 + i, text=t, tier=tiers[i]) for i, t in enumerate(texts)]
    grown = Index(keep_documents=False)
    for count, doc in enumerate(docs, start=1):
        grown.add(doc)
        fresh = Index.build(docs[:count])
        tokens = {token for d in docs[:count] for token in tokenize(d.text)}
        assert statistics(grown, tokens) == statistics(fresh, tokens)
        for q in (question, *QUESTIONS):
            kwargs = {"limit": 3, "offset": offset, "prefer": prefer}
            assert ranking(grown, q, **kwargs) == ranking(fresh, q, **kwargs)


def test_the_seed_article_grown_claim_by_claim_ranks_as_built():
    grown = Index(keep_documents=False)
    half = len(SEED_DOCS) // 2
    for doc in SEED_DOCS[:half]:
        grown.add(doc)
    grown.search("bdnf")  # searched between additions, as the bot does
    for doc in SEED_DOCS[half:]:
        grown.add(doc)
    fresh = Index.build(SEED_DOCS)
    for question in QUESTIONS:
        for prefer in (None, *TIERS):
            kwargs = {"limit": 50, "prefer": prefer}
            assert ranking(grown, question, **kwargs) == ranking(fresh, question, **kwargs)


def test_without_documents_results_carry_key_and_tier_only():
    index = Index.build(SEED_DOCS, keep_documents=False)
    [(doc, score)] = index.search("does it raise BDNF in stroke patients?", limit=1)
    [(full, same)] = Index.build(SEED_DOCS).search("does it raise BDNF in stroke patients?", 1)
    assert (doc.key, doc.tier, score) == (full.key, full.tier, same)
    assert doc.text == "" and doc.sid is None


def test_a_word_repeated_past_255_times_keeps_its_count():
    many = Document(1, "bdnf " * 300 + "stroke", "human")
    index = Index.build([many, Document(2, "bdnf sleep", "human"), Document(3, "x y", "human")])
    grown = Index()
    for doc in (Document(2, "bdnf sleep", "human"), Document(3, "x y", "human"), many):
        grown.add(doc)
    assert index.df("bdnf") == grown.df("bdnf") == 2
    scores = {doc.key: score for doc, score in index.search("bdnf", limit=5)}
    assert scores == {doc.key: score for doc, score in grown.search("bdnf", limit=5)}
    assert scores[1] > scores[2]  # tf 300 against tf 1: the count was not cut to a byte
