"""BM25 ranking of claims: the tokenizer's rules, the scoring formula, and real questions
against the seed article's claims."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.article_format import parse_article
from ledger.models import TIERS
from ledger.ranking import (
    SYNONYMS,
    TIER_ORDER,
    Document,
    Index,
    stem,
    tokenize,
)

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "semax-article.txt"


def seed_documents() -> list[Document]:
    article = parse_article(SEED.read_text(encoding="utf-8"))
    titles = {source.sid: source.title for source in article.sources}
    return [
        Document(key=i, text=f"{claim.text} {titles[claim.sid]}", tier=claim.tier, sid=claim.sid)
        for i, claim in enumerate(article.claims)
    ]


SEED_DOCS = seed_documents()
SEED_INDEX = Index.build(SEED_DOCS)


def sids(results: list[tuple[Document, float]]) -> list[str | None]:
    return [doc.sid for doc, _ in results]


# --- tokenizer -------------------------------------------------------------------------------


def test_tokenize_casefolds_normalises_and_splits():
    assert tokenize("ＢＤＮＦ, Bdnf and bdnf!") == ["bdnf", "bdnf", "bdnf"]
    # NFKC turns the micro sign into Greek mu, so both spellings of "μg" agree.
    assert tokenize("50 µg/kg") == tokenize("50 μg/kg") == ["50", "μg", "kg"]
    assert tokenize("ACTH(4-10)") == ["acth", "4", "10"]
    assert tokenize("healthy-subject_data") == ["healthi", "subject", "data"]


def test_tokenize_drops_stopwords_and_keeps_numbers_and_acronyms():
    assert tokenize("Does it raise BDNF in the 110 people?") == ["rais", "bdnf", "110"]
    assert tokenize("what is it, how does it do that?") == []
    assert tokenize("TrkB mRNA ADHD ACTH s2 1mg") == ["trkb", "mrna", "adhd", "acth", "s2", "1mg"]


@pytest.mark.parametrize(
    "words, expected",
    [
        (("patients", "patient"), "patient"),
        (("studies", "study", "studied", "studying"), "studi"),
        (("raise", "raises", "raised", "raising"), "rais"),
        (("increase", "increased", "increases", "increasing"), "increas"),
        (("dose", "doses", "dosing", "dosed"), "dose"),
        (("level", "levels"), "level"),
        (("stroke", "strokes"), "stroke"),
        (("cycle", "cycling", "cycled"), "cycl"),
        (("use", "used", "using", "uses"), "us"),
        (("stop", "stopped", "stopping"), "stop"),
        (("control", "controlled"), "control"),
    ],
)
def test_stem_conflates_inflections(words, expected):
    assert {stem(word) for word in words} == {expected}


def test_stem_keeps_rate_apart_from_rat_and_leaves_short_or_odd_words():
    assert stem("rate") == stem("rated") == "rate"
    assert stem("rats") == "rat"
    assert [stem(w) for w in ("bdnf", "trkb", "acth", "is", "110", "s2", "μg")] == [
        "bdnf",
        "trkb",
        "acth",
        "is",
        "110",
        "s2",
        "μg",
    ]


def test_synonyms_map_to_the_ledgers_tier_words_and_keep_the_specific_word():
    assert tokenize("stroke patients") == ["stroke", "patient", "human"]
    assert tokenize("humans") == ["human"]
    assert tokenize("rats") == ["rat", "animal"]
    assert tokenize("mice") == tokenize("mouse") == ["mous", "animal"]
    # Looked up by stem, so every inflection of a listed word maps alike.
    for word in ("participant", "participants", "volunteer", "volunteers", "rodent", "rodents"):
        assert stem(word) in SYNONYMS
        assert len(tokenize(word)) == 2


def test_tier_order_matches_the_models():
    assert TIER_ORDER == TIERS


# --- scoring ---------------------------------------------------------------------------------


def test_scores_follow_the_bm25_formula():
    docs = [
        Document(1, "bdnf bdnf stroke", "human", "a"),
        Document(2, "stroke recovery", "preclinical", "b"),
        Document(3, "sleep focus anxiety tolerance", "anecdotal", "c"),
    ]
    index = Index.build(docs)
    n, avgdl, k1, b = 3, (3 + 2 + 4) / 3, 1.5, 0.75

    def idf(df: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def part(tf: int, dl: int, df: int) -> float:
        return idf(df) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    results = index.search("bdnf in stroke", limit=5)
    assert [doc.key for doc, _ in results] == [1, 2]
    assert results[0][1] == pytest.approx(part(2, 3, 1) + part(1, 3, 2))
    assert results[1][1] == pytest.approx(part(1, 2, 2))


def test_ties_break_by_tier_then_key():
    docs = [
        Document(5, "hair loss", "anecdotal", "x"),
        Document(9, "hair loss", "human", "y"),
        Document(2, "hair loss", "preclinical", "z"),
        Document(1, "hair loss", "anecdotal", "w"),
        Document(0, "hair loss", "unknown-tier", "v"),
        *(Document(10 + i, f"unrelated claim {i}", "human", None) for i in range(6)),
    ]
    results = Index.build(docs).search("hair loss?", limit=10)
    assert [doc.key for doc, _ in results] == [9, 2, 1, 5, 0]
    assert len({score for _, score in results}) == 1


def test_repeated_query_words_count_once():
    assert SEED_INDEX.search("BDNF BDNF BDNF stroke") == SEED_INDEX.search("BDNF stroke")


def test_empty_index_and_zero_limit():
    assert Index.build([]).search("bdnf") == []
    assert SEED_INDEX.search("bdnf", limit=0) == []
    one = Index.build([Document(1, "BDNF in stroke", "human", "s1")])
    assert [doc.key for doc, _ in one.search("bdnf")] == [1]  # no token is common in 1 doc


def test_negative_limit_or_offset_is_an_error():
    with pytest.raises(ValueError):
        SEED_INDEX.search("bdnf", limit=-1)
    with pytest.raises(ValueError):
        SEED_INDEX.search("bdnf", offset=-1)


def test_min_score_filters():
    results = SEED_INDEX.search("does it raise BDNF in stroke patients?", limit=50)
    cut = results[1][1]
    assert SEED_INDEX.search("does it raise BDNF in stroke patients?", min_score=cut) == [
        results[0]
    ]


# --- the seed article ------------------------------------------------------------------------


def test_seed_has_claims_of_every_tier():
    assert len(SEED_DOCS) == len(SEED_INDEX) == 46
    assert {doc.tier for doc in SEED_DOCS} == set(TIERS)


def test_stroke_patients_question_ranks_the_110_patient_study_first():
    results = SEED_INDEX.search("does it raise BDNF in stroke patients?")
    assert len(results) == 3
    top, score = results[0]
    assert top.sid == "s2" and top.tier == "human" and "110 stroke patients" in top.text
    assert score > results[1][1]


def test_canonical_readme_question_ranks_the_human_study_first():
    assert sids(SEED_INDEX.search("semax|does it raise BDNF in people?"))[0] == "s2"


def test_rats_question_ranks_a_preclinical_rat_study_in_the_top_three():
    results = SEED_INDEX.search("what do rats show about BDNF")
    rat_studies = [
        doc for doc, _ in results if doc.tier == "preclinical" and "rat" in tokenize(doc.text)
    ]
    assert rat_studies
    assert results[0][0].sid in {"s1", "s22"}


def test_mouse_question_prefers_mouse_studies_over_rat_studies():
    top = [doc for doc, _ in SEED_INDEX.search("studies in mice", limit=2)]
    assert all("mice" in doc.text.lower() or "mouse" in doc.text.lower() for doc in top)


@pytest.mark.parametrize(
    "question",
    [
        "zzzz qqqq",
        "",
        "   ?!",
        "what is it? how does it do that?",
        "does semax cure cancer",  # "semax" is in every claim: it does not count alone
        "is Semax safe for kids",
        "what is semax",
    ],
)
def test_nothing_relevant_gives_no_results(question):
    assert SEED_INDEX.search(question) == []


def test_common_words_add_to_but_do_not_admit_documents():
    assert SEED_INDEX.is_common("semax")
    assert not SEED_INDEX.is_common("bdnf")
    with_name = SEED_INDEX.search("semax selank stack", limit=50)
    without = SEED_INDEX.search("selank stack", limit=50)
    assert {doc.key for doc, _ in with_name} == {doc.key for doc, _ in without}


def test_offset_pages_are_disjoint_and_continue_one_ranking():
    question = "does it raise BDNF in stroke patients?"
    full = SEED_INDEX.search(question, limit=100)
    assert len(full) > 9
    pages = [SEED_INDEX.search(question, limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    keys = [doc.key for page in pages for doc, _ in page]
    assert len(keys) == len(set(keys))
    assert keys == [doc.key for doc, _ in full[: len(keys)]]
    assert SEED_INDEX.search(question, limit=3, offset=len(full)) == []


# --- properties ------------------------------------------------------------------------------


def _check_sorted(index: Index, results: list[tuple[Document, float]], limit: int) -> None:
    assert len(results) <= limit
    scores = [score for _, score in results]
    assert all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert len({doc.key for doc, _ in results}) == len(results)


@settings(max_examples=300, deadline=None)
@given(
    query=st.text(max_size=300),
    limit=st.integers(0, 60),
    offset=st.integers(0, 60),
)
def test_search_never_raises_and_sorts_by_score(query, limit, offset):
    _check_sorted(SEED_INDEX, SEED_INDEX.search(query, limit=limit, offset=offset), limit)


_WORDS = st.sampled_from(
    ["bdnf", "stroke", "patients", "rats", "mice", "semax", "focus", "sleep", "the", "is", "110"]
)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.one_of(st.text(max_size=80), st.lists(_WORDS, max_size=12).map(" ".join)),
        max_size=12,
    ),
    query=st.one_of(st.text(max_size=80), st.lists(_WORDS, max_size=6).map(" ".join)),
    tiers=st.lists(st.sampled_from([*TIERS, "other"]), min_size=12, max_size=12),
)
def test_any_corpus_any_question(texts, query, tiers):
    docs = [Document(key=i, text=text, tier=tiers[i], sid=None) for i, text in enumerate(texts)]
    index = Index.build(docs)
    results = index.search(query, limit=20)
    _check_sorted(index, results, 20)
    query_tokens = set(tokenize(query))
    for doc, _ in results:
        assert query_tokens & set(tokenize(doc.text))
