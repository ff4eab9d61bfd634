import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.analysis import Analysis, analyze

# --- identifiers ---------------------------------------------------------------


def test_urls_strip_trailing_punctuation_and_dedupe():
    result = analyze(
        "See https://example.org/a. Also (https://example.org/b), "
        "https://example.org/c; and https://example.org/a again!"
    )
    assert result.urls == (
        "https://example.org/a",
        "https://example.org/b",
        "https://example.org/c",
    )


def test_url_keeps_balanced_parentheses():
    result = analyze("(see https://en.wikipedia.org/wiki/Semax_(drug)).")
    assert result.urls == ("https://en.wikipedia.org/wiki/Semax_(drug)",)


def test_http_url_and_case_insensitive_scheme():
    assert analyze("HTTP://Example.org/x").urls == ("HTTP://Example.org/x",)
    assert analyze("ftp://example.org and www.example.org").urls == ()


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        ("PMID 12345678", ("12345678",)),
        ("PMID: 123", ("123",)),
        ("pmid:4567", ("4567",)),
        ("PMID 111, PMID: 222 and PMID 111", ("111", "222")),
        ("https://pubmed.ncbi.nlm.nih.gov/12345678/", ("12345678",)),
        ("https://www.ncbi.nlm.nih.gov/pubmed/7654321", ("7654321",)),
        ("PMIDs are great; 12345678", ()),
    ],
)
def test_pmids(paste, expected):
    assert analyze(paste).pmids == expected


def test_pmid_from_text_and_url_dedupes_in_order():
    result = analyze("PMID: 999 https://pubmed.ncbi.nlm.nih.gov/12345678 PMID 12345678")
    assert result.pmids == ("999", "12345678")


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        ("doi: 10.1016/J.NEURO.2020.01.001.", ("10.1016/j.neuro.2020.01.001",)),
        ("(10.1038/s41586-020-2012-7)", ("10.1038/s41586-020-2012-7",)),
        ("10.1016/S0140-6736(20)30183-5, ok", ("10.1016/s0140-6736(20)30183-5",)),
        ("https://doi.org/10.3390/ijms25010001", ("10.3390/ijms25010001",)),
        ("https://dx.doi.org/10.1234%2FABC.5", ("10.1234/abc.5",)),
        ("10.12/too-short-registrant", ()),
        ("110.1234/not-a-doi", ()),
    ],
)
def test_dois(paste, expected):
    assert analyze(paste).dois == expected


def test_dois_dedupe_case_insensitively():
    assert analyze("10.1000/ABC and 10.1000/abc").dois == ("10.1000/abc",)


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        ("NCT01234567", ("NCT01234567",)),
        ("see nct01234567 and NCT07654321", ("NCT01234567", "NCT07654321")),
        ("NCT0123456 (seven digits)", ()),
        ("NCT012345678 (nine digits)", ()),
        ("https://clinicaltrials.gov/study/NCT01234567", ("NCT01234567",)),
    ],
)
def test_nct_ids(paste, expected):
    assert analyze(paste).nct_ids == expected


def test_identifiers_is_json_friendly():
    result = analyze("PMID 1 https://doi.org/10.1000/x NCT12345678")
    ids = result.identifiers()
    assert ids == {
        "urls": ["https://doi.org/10.1000/x"],
        "pmids": ["1"],
        "dois": ["10.1000/x"],
        "nct_ids": ["NCT12345678"],
    }
    assert json.loads(json.dumps(ids)) == ids


# --- source kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("paste", "kind"),
    [
        ("Registered as NCT01234567, PMID 123", "trial"),
        ("https://clinicaltrials.gov/ct2/show/study", "trial"),
        ("PMID 123 https://reddit.com/r/x", "pubmed"),
        ("https://pubmed.ncbi.nlm.nih.gov/", "pubmed"),
        ("A systematic review, doi 10.1000/xyz", "review"),
        ("Meta-analysis: 10.1000/xyz", "review"),
        ("Review of things, no identifiers", "other"),
        ("https://old.reddit.com/r/Nootropics/comments/abc", "reddit"),
        ("https://redd.it/abc", "reddit"),
        ("https://x.com/user/status/1", "x"),
        ("https://mobile.twitter.com/user/status/1", "x"),
        ("https://www.youtube.com/watch?v=abc", "youtube"),
        ("https://youtu.be/abc", "youtube"),
        ("https://www.instagram.com/reel/abc/", "instagram"),
        ("10.1000/xyz", "journal"),
        ("https://www.nature.com/articles/10.1038/abcd", "journal"),
        ("https://example.org/page", "web"),
        ("https://notreddit.com/r/x", "web"),
        ("just some words", "other"),
        ("", "other"),
    ],
)
def test_source_kind(paste, kind):
    assert analyze(paste).source_kind == kind


# --- suggested tier ------------------------------------------------------------


@pytest.mark.parametrize(
    ("paste", "tier", "reason"),
    [
        (
            "https://reddit.com/r/x randomized placebo study in rats",
            "anecdotal",
            "anecdotal: source kind is reddit",
        ),
        ("https://x.com/a/status/1", "anecdotal", "anecdotal: source kind is x"),
        ("https://youtu.be/abc", "anecdotal", "anecdotal: source kind is youtube"),
        ("https://instagram.com/p/1", "anecdotal", "anecdotal: source kind is instagram"),
        ("I took 300mcg with patients nearby", "anecdotal", 'anecdotal: first-person use "I took"'),
        ("I tried it for a week", "anecdotal", 'anecdotal: first-person use "I tried"'),
        ("Here is my experience", "anecdotal", 'anecdotal: first-person use "my experience"'),
        (
            "I’ve been taking it daily",
            "anecdotal",
            'anecdotal: first-person use "I\'ve been taking"',
        ),
        ("Rats were randomized to Semax", "preclinical", 'preclinical: mentions "rats"'),
        ("A study in mice", "preclinical", 'preclinical: mentions "mice"'),
        ("murine neurons", "preclinical", 'preclinical: mentions "murine"'),
        ("tested In Vitro", "preclinical", 'preclinical: mentions "in vitro"'),
        ("a cell culture assay", "preclinical", 'preclinical: mentions "cell culture"'),
        ("an animal model of stroke", "preclinical", 'preclinical: mentions "animal model"'),
        ("zebrafish larvae", "preclinical", 'preclinical: mentions "zebrafish"'),
        ("rodent data only", "preclinical", 'preclinical: mentions "rodent"'),
        ("one mouse", "preclinical", 'preclinical: mentions "mouse"'),
        ("110 patients after stroke", "human", 'human: mentions "patients"'),
        ("healthy participants", "human", 'human: mentions "participants"'),
        ("24 volunteers", "human", 'human: mentions "volunteers"'),
        ("a randomised study", "human", 'human: mentions "randomised"'),
        ("Double-blind design", "human", 'human: mentions "double-blind"'),
        ("versus placebo", "human", 'human: mentions "placebo"'),
        ("a clinical trial of Semax", "human", 'human: mentions "clinical trial"'),
        ("NCT01234567", "human", "human: source kind is trial"),
        ("Semax is great", "anecdotal", "anecdotal: no study markers found"),
        ("PMID 123", "anecdotal", "anecdotal: no study markers found"),
    ],
)
def test_suggested_tier(paste, tier, reason):
    result = analyze(paste)
    assert result.suggested_tier == tier
    assert result.reason == reason


def test_word_boundaries_avoid_false_markers():
    # "rat" inside "ratio"/"strategy" and "mouse" inside "mousepad" are not animals.
    assert analyze("the ratio strategy with a mousepad").suggested_tier == "anecdotal"


def test_media_types_only_annotate_the_default_reason():
    result = analyze("", ["image/jpeg", "application/pdf"])
    assert result.source_kind == "other"
    assert result.reason == (
        "anecdotal: no study markers found (media attached: image/jpeg, application/pdf)"
    )
    assert analyze("in rats", ["image/png"]).reason == 'preclinical: mentions "rats"'
    assert analyze("", "image/png").reason.endswith("(media attached: image/png)")


def test_result_is_frozen():
    result = analyze("x")
    assert isinstance(result, Analysis)
    with pytest.raises(AttributeError):
        result.source_kind = "web"  # type: ignore[misc]


# --- robustness ----------------------------------------------------------------

KINDS = {"trial", "pubmed", "review", "reddit", "x", "youtube", "instagram", "journal", "web"}


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(st.text(max_size=20), max_size=3))
def test_never_crashes_on_random_text(paste, media):
    result = analyze(paste, media)
    assert result.source_kind in KINDS | {"other"}
    assert result.suggested_tier in {"anecdotal", "preclinical", "human"}
    assert result.reason.startswith(result.suggested_tier + ":")


TOKENS = st.sampled_from(
    [
        "http://",
        "https://",
        "doi.org/",
        "10.",
        "1234",
        "/",
        "PMID",
        ":",
        " ",
        "NCT",
        "0",
        ")",
        "(",
        ".",
        "rats",
        "I took",
        "%2F",
        "@",
        "[",
        "pubmed.ncbi.nlm.nih.gov/",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=80))
def test_never_crashes_on_identifier_like_noise(tokens):
    result = analyze("".join(tokens))
    for url in result.urls:
        assert url.lower().startswith(("http://", "https://"))
    for nct in result.nct_ids:
        assert nct.startswith("NCT") and len(nct) == 11
    for doi in result.dois:
        assert doi.startswith("10.") and doi == doi.lower()


@pytest.mark.parametrize(
    "adversarial",
    [
        "PMID" + " " * 1596,
        "PMID:" * 320,
        "10." + "1" * 1597,
        "10.1234/" + ")" * 1592,
        "http://" + "(" * 800 + ")" * 793,
        "https://" * 200,
        "a" * 1599 + "!",
        "NCT" + "0" * 1597,
        "rat " * 400,
        ("I " + " " * 20) * 73 + "xxxx",
    ],
)
def test_adversarial_inputs_complete(adversarial):
    # No timing assertion: the patterns have no nested quantifiers, this only
    # shows that 1,600-char hostile inputs are handled.
    assert len(adversarial) >= 1600
    analyze(adversarial)
