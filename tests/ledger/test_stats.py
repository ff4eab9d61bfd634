"""Article statistics against an independent reading of the seed article, and the folding rules.

The seed counts are taken from the file with nothing but regular expressions here, so a bug in
the parser, the importer or ``ledger.stats`` shows up as a disagreement with the text itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from ledger.article_counts import declared
from ledger.article_format import ArticleRecord, ClaimRecord, SourceRecord, parse_article
from ledger.article_layout import sections_of
from ledger.chain import append
from ledger.confidence import FORMULA
from ledger.db import transaction
from ledger.decisions import Decider, decide
from ledger.importer import import_article
from ledger.models import Article, Evidence, QuestionNode
from ledger.stats import article_stats, load_ledgers, stats_for
from tests.test_helpers import SEED

SECTIONS = {
    "What scientists say": "scientists",
    "What people say on Reddit": "reddit",
    "What people say on X": "x",
    "Other anecdote evidence": "other",
    "What we do not know": None,
}
MODERATOR = Decider("p-0f1e2d3c4b5a6978", "tester", "web")
SOURCE_LINE = re.compile(r"\(source (s\d+)\)$")
# The page does not say which "scientists" entries are consumer web pages; the parser's
# documented rule (article_format) reads it from the title. Restated here as plain text markers.
WEB_TITLE = re.compile(r" \| |\[20\d\d\]|guide|buying", re.IGNORECASE)


def count_seed(text: str) -> dict:
    """Sources per section, tiers from "Evidence type:" lines, web-looking scientist titles."""
    sections = {name: 0 for name in ("scientists", "reddit", "x", "other")}
    tiers = {"human": 0, "preclinical": 0, "anecdotal": 0}
    web = 0
    section = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line in SECTIONS:
            section = SECTIONS[line]
            continue
        if section is None:
            continue
        match = SOURCE_LINE.search(line)
        if match:
            sections[section] += 1
            if section == "scientists" and WEB_TITLE.search(line[: match.start()]):
                web += 1
            if section != "scientists":
                tiers["anecdotal"] += 1  # every people-section source has a summary line
        elif line.startswith("Evidence type: Tagged human"):
            tiers["human"] += 1
        elif line.startswith("Evidence type: Animal or lab"):
            tiers["preclinical"] += 1
    return {"sections": sections, "tiers": tiers, "web": web}


def independent_score(human: int, preclinical: int, anecdotal: int, scientific: int) -> float:
    raw = human * 0.12 + preclinical * 0.04 + anecdotal * 0.015 + min(scientific * 0.005, 0.10)
    return min(raw, 0.95)


def load_seed(services) -> None:
    with transaction(services.sessions) as session:
        import_article(session, parse_article(SEED.read_text(encoding="utf-8")))


def add_question(services, slug: str, question: str, asker: str = "p-3f2a9c1b7e4d8a06") -> int:
    """What the ask handler writes: a question node and its ledger entry."""
    with transaction(services.sessions) as session:
        article = session.scalar(select(Article).where(Article.slug == slug))
        node = QuestionNode(article_id=article.id, text=question, asker=asker)
        session.add(node)
        session.flush()
        entry = append(
            session, "question", slug, {"node_id": node.id, "question": question, "asker": asker}
        )
        node.ledger_seq = entry.seq
        return node.id


def add_evidence(services, slug: str, node_id: int, tier: str, *, approved: bool) -> None:
    """A contributor's paste, left pending (private table) or approved the moderators' way."""
    with transaction(services.sessions) as session:
        article = session.scalar(select(Article).where(Article.slug == slug))
        evidence = Evidence(
            article_id=article.id,
            question_id=node_id,
            paste=f"PMID 12345678 {tier} evidence",
            contributor="p-b7e4d8a063f2a9c1",
            suggested_tier=tier,
            source_kind="pubmed",
        )
        session.add(evidence)
        session.flush()
        if approved:
            decide(session, evidence.id, approve=True, moderator=MODERATOR, now=datetime.now(UTC))


def record(slug: str, sources: list[tuple[str, str, str | None]]) -> ArticleRecord:
    """A tiny article: (sid, kind, tier) per source, one claim per tiered source."""
    items = tuple(
        SourceRecord(sid, f"title {sid}", kind, None, f"summary {sid}", "scientists", tier)
        for sid, kind, tier in sources
    )
    claims = tuple(ClaimRecord(s.tier, s.summary, s.sid) for s in items if s.tier)
    return ArticleRecord(slug, slug.title(), "", items, claims, {}, None)


def test_seed_counts_match_an_independent_reading_of_the_file(services, client):
    counted = count_seed(SEED.read_text(encoding="utf-8"))
    # The regexes above really found the file's sources (55 shown on the page).
    assert counted["sections"] == {"scientists": 18, "reddit": 16, "x": 16, "other": 5}
    assert counted["tiers"] == {"human": 5, "preclinical": 4, "anecdotal": 37}
    assert counted["web"] == 3
    load_seed(services)

    stats = client.get("/api/articles/semax").get_json()["stats"]

    sections, tiers = counted["sections"], counted["tiers"]
    scientific = sections["scientists"] - counted["web"]
    assert stats["sources"] == {
        "scientific": scientific,
        "reddit": sections["reddit"],
        "x": sections["x"],
        "other": sections["other"] + counted["web"],
    }
    assert stats["sources_by_kind"]["web"] == counted["web"]
    assert stats["total_sources"] == sum(sections.values())
    assert stats["claims"] == tiers
    assert stats["total_claims"] == sum(tiers.values())
    assert stats["questions"] == {"open": 0, "answered": 0}
    assert stats["pending"] == 0
    expected = independent_score(
        tiers["human"], tiers["preclinical"], tiers["anecdotal"], scientific
    )
    assert stats["confidence"]["value"] == pytest.approx(expected)
    assert stats["confidence"]["label"] == "moderate — human claims present in ledger"
    assert stats["confidence"]["formula"] == FORMULA


def test_score_below_the_cap_and_labels(services):
    with transaction(services.sessions) as session:
        empty = record("empty", [("s1", "reddit", None)])
        low = record("low", [("s1", "journal", "preclinical"), ("s2", "reddit", "anecdotal")])
        many = [(f"s{n}", "pubmed", None) for n in range(1, 26)]
        moderate = record("moderate", [*many, ("s90", "trial", "human"), ("s91", "x", "anecdotal")])
        for item in (empty, low, moderate):
            import_article(session, item)
    with services.read_sessions() as session:
        stats = stats_for(session, ["empty", "low", "moderate"])

    assert stats["empty"].confidence.value == 0
    assert stats["empty"].confidence.label == "none"
    assert stats["low"].confidence.value == pytest.approx(independent_score(0, 1, 1, 1))
    assert stats["low"].confidence.label == "low — preclinical and anecdotal only"
    # 26 scientific sources: the bonus stops at 0.10 instead of reaching 0.13.
    assert stats["moderate"].sources["scientific"] == 26
    assert stats["moderate"].confidence.value == pytest.approx(independent_score(1, 0, 1, 26))
    assert stats["moderate"].confidence.value == pytest.approx(0.12 + 0.015 + 0.10)


def test_statistics_come_from_ledger_entries_not_projections(services):
    with transaction(services.sessions) as session:
        import_article(session, record("demo", [("s1", "review", "preclinical")]))
        # A claim that exists only in the chain (no row in the claims projection) counts.
        append(session, "claim", "demo", {"sid": None, "tier": "human", "text": "chain only"})
        # Entries of another article, and claims with an unknown tier, do not.
        append(session, "claim", "other", {"sid": None, "tier": "human", "text": "elsewhere"})
        append(session, "claim", "demo", {"sid": None, "tier": "folklore", "text": "?"})
    answered = add_question(services, "demo", "does it work in people?")
    add_question(services, "demo", "what dose?")
    add_evidence(services, "demo", answered, "human", approved=True)
    add_evidence(services, "demo", answered, "anecdotal", approved=False)

    with services.read_sessions() as session:
        stats = article_stats(session, "demo")

    assert stats.claims == {"human": 2, "preclinical": 1, "anecdotal": 0}
    assert (stats.open_questions, stats.answered_questions) == (1, 1)
    assert stats.pending == 1
    assert stats.sources == {"scientific": 1, "reddit": 0, "x": 0, "other": 0}
    assert stats.as_dict()["questions"] == {"open": 1, "answered": 1}


def test_many_articles_take_two_queries(services):
    with transaction(services.sessions) as session:
        for n in range(5):
            import_article(session, record(f"art-{n}", [("s1", "journal", "human")]))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    read_engine = services.engine
    event.listen(read_engine, "before_cursor_execute", count)
    try:
        with services.read_sessions() as session:
            stats = stats_for(session, [f"art-{n}" for n in range(5)])
    finally:
        event.remove(read_engine, "before_cursor_execute", count)

    assert all(s.claims["human"] == 1 for s in stats.values())
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2


def test_declared_counts_stand_beside_the_catalogued_ones(services):
    """The seed declares its publisher's ledger (102 sources...) and lists 55: both are kept,
    paired, and the catalogued ones stay the ones computed from entries."""
    load_seed(services)
    with services.read_sessions() as session:
        ledger = load_ledgers(session, ["semax"])["semax"]
    stats = ledger.stats()
    result = declared(sections_of(ledger.article), stats)

    pairs = {(c.section, c.key): (c.declared, c.catalogued) for c in result.counts}
    assert pairs == {
        ("inventory", "scientific_sources"): (32, stats.sources["scientific"]),
        ("inventory", "human_claims"): (8, 5),
        ("inventory", "preclinical_claims"): (6, 4),
        ("inventory", "anecdotal_claims"): (68, 37),
        ("inventory", "reddit"): (39, 16),
        ("inventory", "x"): (24, 16),
        ("inventory", "other_anecdote"): (5, 5),  # YouTube and Instagram; web pages are apart
        ("inventory", "total_sources"): (102, 55),
        ("how_many", "anecdote_sources"): (68, 37),
        ("how_many", "anecdote_claims"): (68, 37),
    }
    assert stats.sources["scientific"] == 15
    assert [c.key for c in result.counts if not c.differs] == ["other_anecdote"]
    assert result.note.endswith(
        "They differ on 9 of 10 counts: it declares 102 sources and this ledger catalogues 55."
    )
    assert result.confidence == {
        "value": "0.95",
        "scale": "1.00",
        "label": "moderate — human claims present in ledger",
        "formula": result.confidence["formula"],
        "differs": False,
    }
    assert result.footer == {
        "ledger_size": 103,
        "ranked_more": 84,
        "low_confidence": 14,
        "suggested_prompts": 8,
    }


def test_article_entries_count_for_nothing_and_the_newest_is_the_article(services):
    load_seed(services)
    with services.read_sessions() as session:
        before = article_stats(session, "semax")
    with transaction(services.sessions) as session:
        append(session, "article", "semax", {"title": "Semax: later", "summary": "", "limits": ""})
    with services.read_sessions() as session:
        ledger = load_ledgers(session, ["semax"])["semax"]
        assert article_stats(session, "semax") == before
    assert ledger.article["title"] == "Semax: later"
    # An article entry without sections lays out as the page did before they were stored.
    assert [s["key"] for s in sections_of(ledger.article)] == ["scientists"] + ["people"] * 3
    assert declared(sections_of(ledger.article), before).note is None
