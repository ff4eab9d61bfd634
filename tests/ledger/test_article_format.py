from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.article_export import export_record
from ledger.article_format import parse_article
from ledger.chain import check_payload

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED = FIXTURES / "semax-article.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")
SECOND_TEXT = (FIXTURES / "bpc-157-article.txt").read_text(encoding="utf-8")
DEMO_TEXT = (FIXTURES.parent.parent / "bot" / "catalogue" / "data" / "semax-demo.txt").read_text(
    encoding="utf-8"
)
PUBLISHED_ORDER = [
    ("framing", "Regeneration vs degeneration — where this fits"),
    ("topic", None),
    ("what", "What it is"),
    ("how", "How it works"),
    ("logic", "Why it would work (logic chain)"),
    ("why_take", "Why people take it"),
    ("how_many", "How many people take it"),
    ("inventory", "Evidence inventory"),
    ("confidence", "Quantified confidence (this ledger)"),
    ("scientists", "What scientists say"),
    ("people", "What people say on Reddit"),
    ("people", "What people say on X"),
    ("people", "Other anecdote evidence"),
    ("unknowns", "What we do not know"),
    ("limits", "Safety and limits"),
    ("footer", "---"),
]

# Hand count of the seed ("(source s" lines per section, and "Evidence type:" lines):
# scientists 18 (4 animal/lab, 5 tagged human, 9 published research),
# Reddit 16, X 16, other anecdote 5 (4 YouTube, 1 Instagram) = 55.
SCIENTIST_SIDS = [
    f"s{n}" for n in (1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 22, 25, 27, 28, 29, 30, 33, 41)
]
REDDIT_SIDS = [f"s{n}" for n in (7, 13, 14, 15, 16, 17, 18, 24, 26, 31, 34, 35, 36, 37, 38, 49)]
X_SIDS = [f"s{n}" for n in (19, 20, 39, 40, 60, 61, 62, 66, 73, 76, 77, 80, 81, 84, 85, 86)]
OTHER_SIDS = [f"s{n}" for n in (8, 21, 23, 32, 78)]


@pytest.fixture(scope="module")
def article():
    return parse_article(SEED_TEXT)


@pytest.fixture(scope="module")
def by_sid(article):
    return {source.sid: source for source in article.sources}


def test_seed_source_count_matches_hand_count(article):
    assert SEED_TEXT.count("(source s") == 55
    assert len(article.sources) == 55


def test_seed_sids_unique_and_in_page_order(article):
    sids = [source.sid for source in article.sources]
    assert len(set(sids)) == len(sids)
    assert sids == SCIENTIST_SIDS + REDDIT_SIDS + X_SIDS + OTHER_SIDS


def test_title_slug_summary(article):
    assert article.title == "Semax: BDNF Upregulation"
    assert article.slug == "semax"
    assert article.summary.startswith("Semax is studied for neural support")


def test_explicit_slug_wins():
    assert parse_article(SEED_TEXT, slug="semax-v2").slug == "semax-v2"


def test_s2_is_human_with_110_patients(by_sid):
    s2 = by_sid["s2"]
    assert s2.tier == "human"
    assert "110" in s2.summary
    assert s2.section == "scientists"
    assert s2.platform is None
    assert s2.title.startswith("The efficacy of semax")


def test_s1_is_preclinical(by_sid):
    assert by_sid["s1"].tier == "preclinical"
    assert (
        by_sid["s1"].summary == "2006 rat study showing Semax increases hippocampal BDNF and trkB."
    )


def test_scientist_tiers(article):
    tiers = Counter(s.tier for s in article.sources if s.section == "scientists")
    assert tiers == {"preclinical": 4, "human": 5, None: 9}


def test_scientist_kind_rule(by_sid):
    assert by_sid["s10"].kind == "review"  # "...Qualitative Literature Review"
    assert by_sid["s11"].kind == "web"  # "[2026]" / "Buying"
    assert by_sid["s25"].kind == "web"  # "| Rite Aid"
    assert by_sid["s33"].kind == "web"  # "Dosage Guide"
    assert by_sid["s1"].kind == "journal"
    assert all(by_sid[sid].kind in {"review", "web", "journal"} for sid in SCIENTIST_SIDS)


def test_reddit_sources(by_sid):
    for sid in REDDIT_SIDS:
        source = by_sid[sid]
        assert source.kind == "reddit"
        assert source.tier == "anecdotal"
        assert source.section == "people"
        assert source.platform.startswith("Reddit, r/")
    assert by_sid["s16"].platform == "Reddit, r/TBI"
    # An en dash inside the title must not be mistaken for the platform separator.
    assert by_sid["s36"].title.startswith("Selank + Semax – Observed Effects")


def test_x_sources(by_sid):
    for sid in X_SIDS:
        assert by_sid[sid].kind == "x"
        assert by_sid[sid].platform == "X"
        assert by_sid[sid].tier == "anecdotal"


def test_other_anecdote_sources(by_sid):
    assert [by_sid[sid].kind for sid in OTHER_SIDS] == [
        "youtube",
        "youtube",
        "youtube",
        "youtube",
        "instagram",
    ]
    assert by_sid["s78"].platform == "online"
    assert all(by_sid[sid].tier == "anecdotal" for sid in OTHER_SIDS)


def test_stated_counts_match_inventory(article):
    assert article.stated_counts == {
        "scientific_sources": 32,
        "human_claims": 8,
        "preclinical_claims": 6,
        "anecdotal_claims": 68,
        "reddit": 39,
        "x": 24,
        "other_anecdote": 5,
        "total_sources": 102,
    }


def test_claims_are_one_per_tiered_source(article):
    assert len(article.claims) == 46
    assert Counter(c.tier for c in article.claims) == {
        "anecdotal": 37,
        "human": 5,
        "preclinical": 4,
    }
    sources = {s.sid: s for s in article.sources}
    for claim in article.claims:
        assert claim.text == sources[claim.sid].summary
        assert claim.tier == sources[claim.sid].tier
    # The page is a sample: parsed counts stay below the stated ledger totals.
    assert len(article.sources) < article.stated_counts["total_sources"]


def test_limits(article):
    assert article.limits is not None
    assert article.limits.startswith("Hash-chained sources verify integrity")
    assert "catalogue only" in article.limits


def sections(record) -> dict:
    """Sections by key (the seed has one of each, apart from the three people sections)."""
    return {s["key"]: s for s in record.sections}


def test_every_section_in_published_order(article):
    assert [(s["key"], s.get("heading")) for s in article.sections] == PUBLISHED_ORDER
    # Plain JSON for a permanent, hashed entry: no floats anywhere.
    check_payload({"sections": list(article.sections)})


def test_framing_topic_and_what_it_is(article):
    got = sections(article)
    assert got["framing"]["paragraphs"][0].startswith("The body is always doing two things")
    assert got["topic"]["text"].startswith("Semax is studied for neural support")
    (what,) = got["what"]["paragraphs"]
    assert what.endswith("Semax increased plasma BDNF levels.")


def test_step_logic_and_logic_chain(article):
    how, logic = sections(article)["how"], sections(article)["logic"]
    assert how["lead"] == "Step logic:" and len(how["items"]) == 8
    assert how["items"][-1].startswith("Alzheimer's Drug Discovery Foundation researcher")
    assert len(logic["items"]) == 6
    first = logic["items"][1]
    assert (
        first["if"]
        == "In a study of 110 patients after ischemic stroke, Semax increased plasma BDNF levels."
    )
    assert first["then"].startswith("that is one proposed link in a repair/regeneration pathway")


def test_why_and_how_many_people_take_it(article):
    why, how_many = sections(article)["why_take"], sections(article)["how_many"]
    assert why["lead"] == "Reasons that appear in this ledger:" and len(why["items"]) == 10
    assert how_many["paragraphs"] == [
        "There is no reliable global count of how many people take this compound. "
        "That number is not in this ledger."
    ]
    assert how_many["lead"] == "What we can count from this ledger:"
    assert how_many["items"] == [
        {"count": 68, "text": "anecdote source(s) (posts, threads, comments)"},
        {"count": 68, "text": "anecdote-tier claim(s) derived from them"},
    ]
    assert how_many["logic"].startswith("68 online report(s) are catalogued here.")


def test_inventory_and_confidence_as_declared(article):
    inventory, confidence = sections(article)["inventory"], sections(article)["confidence"]
    assert inventory["paragraphs"] == [
        "This is a count of what is in this ledger — not a claim about all research worldwide."
    ]
    assert inventory["items"][0] == {
        "label": "Scientific sources catalogued (PubMed, trials, reviews)",
        "count": 32,
    }
    assert inventory["items"][-1] == {"label": "Total sources in chain", "count": 102}
    # As printed: the score is text, never a float in a hashed payload.
    assert confidence["value"] == "0.95" and confidence["scale"] == "1.00"
    assert confidence["label"] == "moderate — human claims present in ledger"
    assert confidence["formula"].startswith("human claims×0.12 + preclinical×0.04")


def test_source_sections_list_their_ids_and_keep_the_evidence_sentence(article, by_sid):
    listed = [s.get("sources") for s in article.sections if s["key"] in ("scientists", "people")]
    assert listed == [SCIENTIST_SIDS, REDDIT_SIDS, X_SIDS, OTHER_SIDS]
    assert by_sid["s1"].evidence_type == (
        "Animal or lab work — shows mechanism or early signal, not proof in people."
    )
    assert by_sid["s6"].evidence_type == "Published research." and by_sid["s6"].tier is None
    assert by_sid["s7"].evidence_type is None  # people's posts carry no evidence-type line


def test_unknowns_limits_and_footer(article):
    got = sections(article)
    assert got["unknowns"]["items"][0].startswith("There is a lack of longitudinal studies")
    assert got["limits"]["items"][0].startswith("Hash-chained sources verify integrity")
    footer = got["footer"]
    assert footer["notice"].startswith("Not medical advice. Counts and quotes are from")
    assert (footer["ledger_size"], footer["ranked_more"], footer["low_confidence"]) == (103, 84, 14)
    assert footer["suggested_prompts"] == 8
    assert footer["texting"].startswith("Text the build (+14245134626) or WhatsApp")
    assert "lines" not in footer


@pytest.mark.parametrize("text", [SEED_TEXT, SECOND_TEXT, DEMO_TEXT], ids=["seed", "bpc", "demo"])
def test_writing_an_article_back_gives_the_published_text(text):
    assert export_record(parse_article(text)) == text.rstrip("\n") + "\n"


def test_second_article_reads_every_section():
    record = parse_article(SECOND_TEXT)
    assert record.slug == "bpc-157"
    keys = [s["key"] for s in record.sections]
    assert keys == [key for key, _heading in PUBLISHED_ORDER]
    assert Counter(c.tier for c in record.claims) == {"anecdotal": 11, "preclinical": 4, "human": 2}
    assert record.stated_counts["total_sources"] == 38 and len(record.sources) == 21
    footer = sections(record)["footer"]
    assert footer["lines"] == ["Rebuilt from the hash chain whenever a new entry is appended."]


def test_odd_lines_keep_their_fields():
    text = "\n".join(
        [
            "Foo: Bar",
            "How many people take it",
            "- 3 anecdote source(s)",
            "- some, uncounted",
            "Logic: a sample, not a census.",
            "Why it would work (logic chain)",
            "- IF a THEN b",
            "- if lowercase then not a link",
            "Quantified confidence (this ledger): high",
            "---",
            "Evidence ledger 7",
            "Something else",
        ]
    )
    got = sections(parse_article(text))
    assert got["how_many"]["items"] == [
        {"count": 3, "text": "anecdote source(s)"},
        {"text": "some, uncounted"},
    ]
    assert got["how_many"]["logic"] == "a sample, not a census."
    assert got["logic"]["items"] == [
        {"if": "a", "then": "b"},
        {"text": "if lowercase then not a link"},
    ]
    assert got["confidence"] == {
        "key": "confidence",
        "heading": "Quantified confidence (this ledger)",
        "text": "high",
    }
    assert got["footer"] == {
        "key": "footer",
        "heading": "---",
        "ledger_size": 7,
        "lines": ["Something else"],
    }


def test_no_title_raises_value_error():
    for text in ("", "   ", "\n\n \t\n"):
        with pytest.raises(ValueError, match="no title"):
            parse_article(text)


def test_title_only():
    record = parse_article("BPC-157: Gut Repair\n")
    assert record.slug == "bpc-157"
    assert record.sections == ()
    assert record.sources == ()
    assert record.claims == ()
    assert record.stated_counts == {}
    assert record.limits is None
    assert record.summary == ""


def test_unknown_sections_are_skipped():
    text = "\n".join(
        [
            "Foo: Bar",
            "What scientists say",
            "Paper one (source s1)",
            "A mouse study.",
            "Evidence type: Animal or lab work — early signal.",
            "Brand new heading",
            "Stray line that is not a source (and no header)",
            "What people say on TikTok",
            "Clip — TikTok (source s2)",
            "User liked it.",
            "Mystery section",
            "Evidence inventory",
            "- Reddit posts catalogued: 3",
            "- Shiny new counter: 7",
            "- Not a count: many",
            "Quantified confidence (this ledger): 0.95 / 1.00",
        ]
    )
    record = parse_article(text)
    assert [s.sid for s in record.sources] == ["s1", "s2"]
    assert record.sources[0].tier == "preclinical"
    assert record.sources[0].summary == "A mouse study."
    assert record.sources[1].kind == "other"
    assert record.sources[1].platform == "TikTok"
    assert record.sources[1].summary == "User liked it."
    assert record.stated_counts == {"reddit": 3, "shiny_new_counter": 7}


def test_duplicate_sids_keep_first():
    text = "T: x\nWhat scientists say\nA (source s1)\nfirst\nB (source s1)\nsecond\n"
    record = parse_article(text)
    assert [(s.sid, s.summary) for s in record.sources] == [("s1", "first")]


SEED_LINES = SEED_TEXT.splitlines()


def assert_round_trip(record) -> None:
    """Writing a record back and reading it again gives the same record, JSON-clean."""
    check_payload({"sections": list(record.sections)})
    assert parse_article(export_record(record), slug=record.slug) == record


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_except_value_error_on_random_text(text):
    try:
        record = parse_article(text)
    except ValueError:
        assert not text.strip()
    else:
        assert record.title
        assert record.slug
        assert_round_trip(record)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SEED_LINES), st.text(max_size=80)), max_size=60))
def test_never_raises_on_shuffled_seed_lines(lines):
    text = "\n".join(lines)
    try:
        record = parse_article(text)
    except ValueError:
        assert not text.strip()
    else:
        sids = [s.sid for s in record.sources]
        assert len(sids) == len(set(sids))
        assert all(s.tier in {None, "human", "preclinical", "anecdotal"} for s in record.sources)
        assert_round_trip(record)
