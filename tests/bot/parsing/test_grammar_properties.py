"""Property tests: parse() faces arbitrary phone input, so totality and round-trips are fuzzed."""

import re
import unicodedata

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.parsing import (
    MAX_PASTE,
    MAX_QUESTION,
    TIERS,
    Approve,
    ArticleInfo,
    Ask,
    FollowUp,
    Help,
    Ingest,
    More,
    Pending,
    Reject,
    Show,
    Start,
    Stop,
    Unknown,
    canonical,
    normalize_slug,
    parse,
)

COMMAND_TYPES = (
    Ask,
    ArticleInfo,
    Ingest,
    Stop,
    Start,
    Help,
    More,
    FollowUp,
    Approve,
    Reject,
    Pending,
    Show,
    Unknown,
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"

any_char = st.characters(blacklist_categories=())  # includes lone surrogates and controls
clean_char = st.characters(blacklist_categories=("Cs",), blacklist_characters=INVISIBLE)

# Fragments that exercise every branch of the grammar far more often than random text does.
WORDS = (
    "ingest approve reject pending show stop Yes help more semax human preclinical anecdotal"
    " q: Q # E e 0 7 12 2147483648 ? ! . - _ bpc_157 Sémax ß İ ﬁ ²"
)
FRAGMENTS = [
    *WORDS.split(),
    *[" ", "\n", "|", "｜", "INGEST ", "BPC 157", "\u200b", "\u00ad", "\u0301", "\ud800"],
    "https://x.org/a?b=1|c",
]
PREFIXES = [
    "",
    "",
    "ingest ",
    "Ingest\n",
    "ingest semax|",
    "ingest q:12|",
    "INGEST BPC 157 | #3 |",
    "approve ",
    "approve E7 ",
    "reject E",
    "reject #7 ",
    "show ",
    "show E",
    "pending ",
]
grammarish = st.tuples(
    st.sampled_from(PREFIXES),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(any_char, max_size=5)), max_size=12),
).map(lambda parts: parts[0] + "".join(parts[1]))

slugs = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,3}", fullmatch=True).filter(
    lambda s: len(s) <= 64
)
# parse() refuses ingest slugs that read back as node ids ("12", "q12").
ingest_slugs = slugs.filter(lambda s: not re.fullmatch(r"q?[0-9]+", s))
ids = st.integers(min_value=1, max_value=2**31 - 1)


def _nfkc_stripped(max_size):
    return st.text(clean_char, min_size=1, max_size=max_size).map(
        lambda s: unicodedata.normalize("NFKC", s).strip()
    )


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


# A question needs a letter or digit ("semax||" and "|?" are no questions).
questions = _nfkc_stripped(MAX_QUESTION).filter(lambda q: _has_words(q) and len(q) <= MAX_QUESTION)
follow_ups = _nfkc_stripped(MAX_QUESTION).filter(lambda q: _has_words(q) and len(q) <= MAX_QUESTION)
reasons = _nfkc_stripped(80).filter(lambda r: r and "|" not in r)
pastes = st.text(clean_char, min_size=1, max_size=MAX_PASTE).map(str.strip).filter(bool)

commands = st.one_of(
    st.builds(Ask, slugs, questions),
    st.builds(ArticleInfo, slugs),
    st.builds(Ingest, st.none() | ingest_slugs, ids, pastes),
    st.sampled_from([Stop(), Start(), Help(), More(), Pending(None)]),
    st.builds(FollowUp, follow_ups),
    st.builds(Approve, ids, st.none() | st.sampled_from(TIERS)),
    st.builds(Reject, ids, reasons),
    st.builds(Pending, slugs),
    st.builds(Show, ids),
)


@FAST
@given(st.text(max_size=10_000))
def test_parse_is_total_over_text(text):
    assert isinstance(parse(text), COMMAND_TYPES)


@FAST
@given(st.text(any_char, max_size=10_000))
def test_parse_is_total_with_surrogates_and_controls(text):
    assert isinstance(parse(text), COMMAND_TYPES)


@FAST
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_non_strings_are_empty(value):
    assert isinstance(parse(value), Unknown)


@FAST
@given(commands)
def test_canonical_round_trips(command):
    assert parse(canonical(command)) == command


@FAST
@given(st.one_of(grammarish, st.text(any_char, max_size=300)))
def test_parse_is_idempotent_through_canonical(text):
    parsed = parse(text)
    assume(not isinstance(parsed, Unknown))
    assert parse(canonical(parsed)) == parsed


@FAST
@given(grammarish)
def test_unknown_text_is_short_and_clean(text):
    parsed = parse(text)
    if isinstance(parsed, Unknown):
        assert len(parsed.text) <= 200
        assert not set(parsed.text) & set(INVISIBLE)
        assert canonical(parsed) == parsed.text


@FAST
@given(st.text(any_char, max_size=200))
def test_normalize_slug_is_idempotent_and_ascii(text):
    slug = normalize_slug(text)
    assert normalize_slug(slug) == slug
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
