"""Importing articles: the entries an article becomes, re-imports, collisions, older ledgers,
and the demo's own slug."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import func, select

from bot.catalogue.demo import DEMO_SLUG, load_demo_if_empty
from ledger.article_format import parse_article
from ledger.chain import check_payload
from ledger.db import transaction
from ledger.importer import ImportConflict, import_article
from ledger.models import Article, LedgerEntry, Source
from ledger.stats import article_stats
from tests.test_helpers import DEMO, SEED, count, load_demo

SEED_RECORD = parse_article(SEED.read_text(encoding="utf-8"))


def entries(services, slug: str | None = None) -> list[tuple[str, str, dict]]:
    with services.sessions() as session:
        query = select(LedgerEntry).order_by(LedgerEntry.seq)
        if slug is not None:
            query = query.where(LedgerEntry.slug == slug)
        return [(e.kind, e.slug, json.loads(e.payload)) for e in session.scalars(query)]


def run_import(services, record):
    with transaction(services.sessions) as session:
        return import_article(session, record)


def test_the_seed_becomes_one_article_entry_with_every_section(services):
    report = run_import(services, SEED_RECORD)

    assert (report.article_created, report.sources_added, report.claims_added) == (True, 55, 46)
    written = entries(services)
    assert [kind for kind, _, _ in written].count("article") == 1
    assert len(written) == report.entries_added == 102  # the same count as before sections
    kind, slug, article = written[0]
    assert (kind, slug) == ("article", "semax")
    assert set(article) == {"title", "summary", "limits", "sections"}
    assert [s["key"] for s in article["sections"]][:3] == ["framing", "topic", "what"]
    check_payload(article)  # no floats: the score is kept as the text "0.95"
    # The publisher's number in the footer's texting line never reaches the permanent ledger.
    footer = article["sections"][-1]
    assert footer["texting"].startswith("Text the build ([number removed]) or WhatsApp")
    assert "4245134626" not in json.dumps(written)
    s1 = next(p for k, _, p in written if k == "source" and p["sid"] == "s1")
    assert s1["evidence_type"].startswith("Animal or lab work — shows mechanism")
    s7 = next(p for k, _, p in written if k == "source" and p["sid"] == "s7")
    assert set(s7) == {"sid", "kind", "title", "platform", "summary"}  # as before


def test_an_identical_import_adds_nothing(services):
    run_import(services, SEED_RECORD)
    before = entries(services)

    again = run_import(services, parse_article(SEED.read_text(encoding="utf-8")))

    assert again.entries_added == 0 and not again.article_created and not again.article_completed
    assert entries(services) == before


def test_different_content_under_the_same_ids_is_refused_and_names_them(services):
    load_demo(services)  # the demo under "semax", as the product used to load it
    before = entries(services)

    with pytest.raises(ImportConflict) as caught:
        run_import(services, SEED_RECORD)

    conflict = caught.value
    assert conflict.sids == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert conflict.article_fields == ["title", "summary", "limits", "sections"]
    message = str(conflict)
    assert "semax: not imported, nothing written" in message
    assert "source id(s) s1, s2, s3, s4, s5, s6 hold different content" in message
    assert "--slug" in message
    assert entries(services) == before  # nothing written, not even the new sources


def test_one_changed_source_is_named_alone(services):
    run_import(services, SEED_RECORD)
    text = SEED.read_text(encoding="utf-8")
    changed = text.replace(
        "2006 rat study showing Semax increases hippocampal BDNF and trkB.",
        "2006 rat study showing Semax increases hippocampal BDNF.",
    )
    # The evidence-type sentence alone decides s9's tier: a changed tier is a change too.
    retiered = text.replace(
        "Effects of Semax on the Default Mode Network of the Brain (source s9)\n"
        "2018 study using resting-state fMRI on healthy volunteers showing Semax increases volume"
        " in the rostral default mode network subcomponent compared to placebo.\n"
        "Evidence type: Tagged human evidence",
        "Effects of Semax on the Default Mode Network of the Brain (source s9)\n"
        "2018 study using resting-state fMRI on healthy volunteers showing Semax increases volume"
        " in the rostral default mode network subcomponent compared to placebo.\n"
        "Evidence type: Animal or lab work",
    )
    assert retiered != text

    for variant, sid in ((changed, "s1"), (retiered, "s9")):
        with pytest.raises(ImportConflict) as caught:
            run_import(services, parse_article(variant))
        assert caught.value.sids == [sid]
        assert caught.value.article_fields == []


def test_an_article_entry_from_before_sections_is_completed(services):
    """Ledgers written before every section was read: the same file adds one article entry."""
    legacy = dataclasses.replace(
        SEED_RECORD,
        sections=None,
        sources=tuple(dataclasses.replace(s, evidence_type=None) for s in SEED_RECORD.sources),
    )
    run_import(services, legacy)
    with services.read_sessions() as session:
        before = article_stats(session, "semax")
    assert set(entries(services)[0][2]) == {"title", "summary", "limits"}

    report = run_import(services, SEED_RECORD)

    assert report.article_completed and report.entries_added == 1
    kind, _, latest = entries(services)[-1]
    assert kind == "article" and len(latest["sections"]) == 16
    with services.read_sessions() as session:
        assert article_stats(session, "semax") == before
    assert run_import(services, SEED_RECORD).entries_added == 0


def test_the_product_demo_has_its_own_slug_and_the_real_seed_stays_separate(services):
    assert load_demo_if_empty(services.sessions)
    assert not load_demo_if_empty(services.sessions)  # only into an empty ledger

    report = run_import(services, SEED_RECORD)

    assert report.article_created and report.sources_added == 55
    with services.sessions() as session:
        articles = {a.slug: a for a in session.scalars(select(Article))}
        sources = dict(
            session.execute(
                select(Article.slug, func.count(Source.id)).join(Source).group_by(Article.slug)
            ).all()
        )
    assert set(articles) == {DEMO_SLUG, "semax"} and DEMO_SLUG == "semax-demo"
    assert articles[DEMO_SLUG].title == "Semax: demo article"
    assert articles["semax"].title == "Semax: BDNF Upregulation"
    assert articles["semax"].summary.startswith("Semax is studied for neural support")
    assert sources == {DEMO_SLUG: 6, "semax": 55}
    demo_entries = entries(services, DEMO_SLUG)
    what = next(s for s in demo_entries[0][2]["sections"] if s["key"] == "what")
    assert what["paragraphs"][0].startswith("Demo data, not the published Semax article")
    assert len(demo_entries) == 13 and len(entries(services, "semax")) == 102
    assert count(services, LedgerEntry) == 115


def test_tests_load_the_demo_as_semax(services):
    """Bot tests text ``semax|…`` against the demo's six sources; the file's slug is its own."""
    report = load_demo(services)
    assert report.slug == "semax" and report.sources_added == 6
    assert parse_article(DEMO.read_text(encoding="utf-8")).slug == "semax"  # hence DEMO_SLUG


def test_an_article_under_an_older_slug_is_not_imported_twice(services):
    """0.1 derived "s-max" from "Sémax"; today's slug is "semax". Re-importing must not start
    a second, permanent copy: it names the slug the article already has."""
    from ledger.article_format import parse_article
    from ledger.db import transaction
    from ledger.importer import AlreadyImported, import_article
    from ledger.models import LedgerEntry

    text = "Sémax: an accented title\nThis topic: One article, two slugs over time.\n"
    with transaction(services.sessions) as session:
        import_article(session, parse_article(text, slug="s-max"))
    with services.sessions() as session:
        before = session.query(LedgerEntry).count()
    with (
        pytest.raises(AlreadyImported, match="--slug s-max"),
        transaction(services.sessions) as session,
    ):
        import_article(session, parse_article(text))
    with services.sessions() as session:
        assert session.query(LedgerEntry).count() == before
    with transaction(services.sessions) as session:  # under its own slug: nothing new
        assert import_article(session, parse_article(text, slug="s-max")).entries_added == 0
