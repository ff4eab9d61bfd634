"""The public HTML pages: what a reader sees, escaping, no phone numbers, no scripts, paging."""

from __future__ import annotations

import re

from ledger.article_format import ArticleRecord, ClaimRecord, SourceRecord
from ledger.chain import head
from ledger.db import transaction
from ledger.importer import import_article
from tests.ledger.test_stats import add_evidence, add_question, load_seed

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Hashes, short hashes and pseudonyms are hex by design and may hold long digit runs.
HEX_TOKENS = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b|\bp-[0-9a-f]{16}\b")
TIMES = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}\b")  # the ledger's time column
# Nine or more digits, allowing the separators people type inside phone numbers.
PHONE_LIKE = re.compile(r"\+?\d(?:[\s().\-]{0,3}\d){8,}")
# (Not a dosing question: one of those is never listed on the page at all.)
SMUGGLED = "call me on +1 (424) 513-4626 or 4245134626 about rats"
NOT_ADVICE = "Not medical advice."


def pages(client) -> dict[str, str]:
    paths = ["/", "/a/semax", "/ledger", "/ledger?page=2", "/ledger?page=3", "/a/unknown"]
    paths += ["/ledger?page=zero", "/no/such/page", "/a/+14245134626"]
    return {path: client.get(path).get_data(as_text=True) for path in paths}


PUBLISHED_HEADINGS = (
    "<h2>Regeneration vs degeneration — where this fits</h2>",
    "<strong>This topic:</strong> Semax is studied for neural support",
    "<h2>What it is</h2>",
    "<h2>How it works</h2>",
    "<h2>Why it would work (logic chain)</h2>",
    "<h2>Why people take it</h2>",
    "<h2>How many people take it</h2>",
    "<h2>Evidence inventory</h2>",
    "Quantified confidence (this ledger):",
    "<h2>What scientists say</h2>",
    "<h2>What people say on Reddit</h2>",
    "<h2>What people say on X</h2>",
    "<h2>Other anecdote evidence</h2>",
    "<h2>What we do not know</h2>",
    "<h2>Safety and limits</h2>",
    "<h2>As published</h2>",
    "<h2>Open questions</h2>",
    "<h2>Ledger</h2>",
)
ANIMAL = "Evidence type: Animal or lab work — shows mechanism or early signal, not proof in people."
HUMAN = "Evidence type: Tagged human evidence in this ledger — check sample size and design."


def row(label: str, catalogued, declared) -> re.Pattern:
    """An inventory row: its label, the ledger's count, the published article's count."""
    cells = rf"<td>{re.escape(label)}</td>\s*<td>{catalogued}</td>\s*<td>{declared}"
    return re.compile(cells)


def test_article_page_shows_every_section_in_the_published_order(services, client):
    load_seed(services)
    node = add_question(services, "semax", "does it raise BDNF in healthy people?")
    answered = add_question(services, "semax", "any human trials?")
    add_evidence(services, "semax", answered, "human", approved=True)

    response = client.get("/a/semax")

    assert response.status_code == 200
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    at = [html.find(marker) for marker in PUBLISHED_HEADINGS]
    assert -1 not in at, [m for m, i in zip(PUBLISHED_HEADINGS, at, strict=True) if i < 0]
    assert at == sorted(at)
    assert "<script" not in html and " style=" not in html
    assert "Step logic:" in html and "<strong>IF</strong> In a study of 110 patients" in html
    assert "Reasons that appear in this ledger:" in html
    assert "User calls Semax their saving grace recently." in html
    # Plain-language evidence types, as published; no kind/tier jargon.
    assert html.count(ANIMAL) == 4 and html.count(HUMAN) == 5  # as the seed has them
    assert "Evidence type: Published research." in html
    assert "Kind:" not in html and "Tier:" not in html
    assert "(source s1)" in html and "(source s41)" in html
    assert "(source s7)" in html and "(source s78)" in html
    assert "There is a lack of longitudinal studies" in html
    assert "Hash-chained sources verify integrity, not clinical truth." in html
    # Counts: the ledger's own (catalogued) beside what the article declared.
    assert row("Claims tagged human evidence", 6, 8).search(html)  # 5 imported + 1 approved
    assert row("Total sources in chain", 55, 102).search(html)
    assert row("Other anecdote sources (YouTube, Instagram, etc.)", 5, 5).search(html)
    assert row("Web pages listed with the scientists (not counted as scientific)", 3, "—").search(
        html
    )
    assert "it declares 102 sources and this ledger catalogues 55." in html
    assert "68 anecdote source(s) (posts, threads, comments)" in html
    assert "declared by the published article;\n        this ledger catalogues 37" in html
    assert "Formula: human claims × 0.12" in html
    assert "The published article declared:\n    0.95 / 1.00 — moderate" in html
    assert "<svg" in html and 'class="bar bar-anecdotal"' in html
    assert "Evidence ledger: 103" in html and "Text the build ([number removed])" in html
    assert f"q:{node}" in html and f"ingest semax|q:{node}|your paste" in html
    assert "<h3>Answered questions</h3>" in html and f"q:{answered}" in html
    with services.read_sessions() as session:
        seq, digest = head(session)
    assert f"entry {seq}" in html and digest in html
    assert 'href="/ledger"' in html and 'href="/api/ledger/1"' in html  # the article entry


def test_an_article_without_stored_sections_still_shows_every_part(services, client):
    """Entries written before sections were stored: the page lays them out as it did."""
    sources = (
        SourceRecord("s1", "A rat study", "journal", None, "Rats.", "scientists", "preclinical"),
        SourceRecord("s2", "A post", "reddit", "Reddit, r/x", "Felt it.", "people", "anecdotal"),
        SourceRecord("s3", "A clip", "youtube", "YouTube", "Watched.", "people", "anecdotal"),
    )
    claims = tuple(ClaimRecord(s.tier, s.summary, s.sid) for s in sources)
    with transaction(services.sessions) as session:
        import_article(
            session, ArticleRecord("old", "Old: article", "Its summary.", sources, claims, {}, None)
        )

    html = client.get("/a/old").get_data(as_text=True)

    assert "<strong>This topic:</strong> Its summary." in html
    assert ANIMAL in html and "Tier:" not in html
    assert row("Total sources in chain", 3, "—").search(html)
    for heading in ("What scientists say", "What people say on Reddit", "Other anecdote evidence"):
        assert f"<h2>{heading}</h2>" in html
    assert "No limits recorded for this article yet." in html


def test_hostile_text_stays_text(services, client):
    source = SourceRecord("s1", HOSTILE, "journal", HOSTILE, HOSTILE, "scientists", "human")
    record = ArticleRecord(
        slug="hostile",
        title=HOSTILE,
        summary=HOSTILE,
        sources=(source,),
        claims=(ClaimRecord("human", HOSTILE, "s1"),),
        stated_counts={},
        limits=HOSTILE,
    )
    with transaction(services.sessions) as session:
        import_article(session, record)
    add_question(services, "hostile", HOSTILE)

    for path in ("/", "/a/hostile", "/ledger"):
        html = client.get(path).get_data(as_text=True)
        assert HOSTILE not in html, path
        assert "<script" not in html.lower(), path
        assert ESCAPED in html, path
    article = client.get("/a/hostile").get_data(as_text=True)
    assert article.count(ESCAPED) >= 5  # title, summary, source title and summary, question


def test_no_page_has_scripts_or_phone_numbers_and_all_say_not_medical_advice(services, client):
    load_seed(services)  # the seed's own footer carries a phone number; it must not leak
    # Written straight to the chain, past the ask handler's redaction: pages still hide it.
    add_question(services, "semax", SMUGGLED)

    seen = pages(client)
    assert "call me on [number removed] or [number removed] about rats" in seen["/a/semax"]
    # The one number a page may show is the bot's own, to text (issue #14's "take part").
    settings = services.settings
    bot = {settings.twilio_sms_from, settings.twilio_whatsapp_from.removeprefix("whatsapp:")}
    bot |= {number.lstrip("+") for number in bot}
    for path, html in seen.items():
        assert NOT_ADVICE in html, path
        assert "<script" not in html.lower(), path
        text = TIMES.sub(" ", HEX_TOKENS.sub(" ", html))
        leaked = [n for n in PHONE_LIKE.findall(text) if n not in bot]
        assert not leaked, (path, leaked)


def test_ledger_pages_newest_first(services, client):
    load_seed(services)  # 102 entries: pages of 50, 50 and 2
    seqs = {}
    for page in (1, 2, 3):
        html = client.get(f"/ledger?page={page}").get_data(as_text=True)
        seqs[page] = [int(n) for n in re.findall(r'href="/api/ledger/(\d+)"', html)]
    assert seqs[1] == list(range(102, 52, -1))
    assert seqs[2] == list(range(52, 2, -1))
    assert seqs[3] == [2, 1]
    first = client.get("/ledger").get_data(as_text=True)
    assert 'href="/ledger?page=2"' in first and "Page 1 of 3" in first
    last = client.get("/ledger?page=3").get_data(as_text=True)
    assert 'href="/ledger?page=2"' in last and "page=4" not in last
    assert client.get("/ledger?page=4").status_code == 404
    for bad in ("0", "-1", "x", "1.5", "99999999999"):
        assert client.get(f"/ledger?page={bad}").status_code == 400, bad


def test_empty_site_and_unknown_article(client):
    home = client.get("/")
    assert home.status_code == 200 and "No articles yet." in home.get_data(as_text=True)
    ledger = client.get("/ledger")
    assert ledger.status_code == 200 and "The ledger is empty." in ledger.get_data(as_text=True)
    missing = client.get("/a/nothing-here")
    assert missing.status_code == 404
    assert "There is no article “nothing-here” yet." in missing.get_data(as_text=True)
    assert client.get("/a/" + "x" * 300).status_code == 404
    assert client.get("/a/a%00b").status_code == 404


def test_index_lists_articles_with_counts_and_score(services, client):
    load_seed(services)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/a/semax"' in html and "Semax: BDNF Upregulation" in html
    assert "<td>55</td>" in html and "5 / 4 / 37" in html
    assert "0.95 — moderate — human claims present in ledger" in html
    assert "Confidence: human claims × 0.12" in html
    assert client.get("/static/style.css").status_code == 200
