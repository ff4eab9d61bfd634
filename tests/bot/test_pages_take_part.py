"""Pages people act on: how to take part, where a cited source lives, what the ledger holds."""

from __future__ import annotations

import re
from html import unescape

import pytest

from bot.worker.checkpointer import checkpoint_once
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import load_demo

SMS_FROM = "+15005550006"
WHATSAPP_FROM = "whatsapp:+14155238886"
CONTRIBUTOR = "+15551230002"
PASTE = (
    "Randomized trial NCT01234567, PMID 31234567, doi 10.1016/j.neures.2019.07.005 and "
    "https://example.org/semax-study javascript:alert(1)"
)


MODERATOR = "+15550000001"  # tests/support/settings.py


@pytest.fixture
def article(services, client, twilio):
    load_demo(services)
    for body in ("semax|does it raise BDNF in people?", f"ingest semax|q:1|{PASTE}"):
        post_signed(client, inbound_params(CONTRIBUTOR, body))
    drain(services)
    post_signed(client, inbound_params(MODERATOR, "approve E1"))
    post_signed(client, inbound_params(CONTRIBUTOR, "semax|any trials in stroke?"))
    drain(services)
    checkpoint_once(services)
    return client.get("/a/semax").get_data(as_text=True)


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def test_the_article_says_where_to_text_prefilled(article):
    links = hrefs(article)
    assert "sms:+15005550006?&body=semax%7C" in links
    assert "https://wa.me/14155238886?text=semax%7C" in links
    assert "+15005550006" in article and "+14155238886" in article
    # Each open question offers its ingest line, prefilled, on both channels.
    assert any(h.startswith("sms:+15005550006?&body=ingest%20semax%7Cq%3A") for h in links)
    assert any(h.startswith("https://wa.me/14155238886?text=ingest%20semax%7Cq%3A") for h in links)
    assert "Not medical advice" in article


def test_cited_identifiers_link_to_their_sources(article):
    links = hrefs(article)
    assert "https://pubmed.ncbi.nlm.nih.gov/31234567/" in links
    assert "https://doi.org/10.1016/j.neures.2019.07.005" in links
    assert "https://clinicaltrials.gov/study/NCT01234567" in links
    assert "https://example.org/semax-study" in links
    assert not any(h.lower().startswith("javascript:") for h in links)


def test_the_timeline_draws_entries_per_month_by_tier(article):
    svg = article[article.index('class="chart timeline"') :]
    svg = svg[: svg.index("</figure>")]
    assert "<desc" in svg and re.search(r"\d{4}-\d{2}: \d+ ", svg)
    assert 'class="bar bar-preclinical"' in svg or 'class="bar bar-human"' in svg
    assert 'class="bar bar-other"' in svg


def test_without_numbers_the_page_points_at_the_dev_phone(services):
    from dataclasses import replace

    from bot.ops.services import Services
    from bot.web.app import create_app

    load_demo(services)
    bare = replace(
        services.settings, twilio_sms_from=None, twilio_whatsapp_from=None, twilio_account_sid=None
    )
    client = create_app(services=Services(bare, engine=services.engine)).test_client()
    html = client.get("/a/semax").get_data(as_text=True)
    assert "sms:" not in html and "wa.me" not in html
    assert 'href="/dev/phone"' in html


def test_the_ledger_page_is_a_readable_table(article, client):
    html = client.get("/ledger").get_data(as_text=True)
    assert "Question q:2: any trials in stroke?" in html
    assert re.search(r"Human evidence E1 for q:1|Preclinical evidence E1 for q:1", html)
    assert "E1 approved as" in html
    assert '"payload"' not in html and "{&#34;" not in html  # no raw JSON
    assert re.search(r'<code title="[0-9a-f]{64}">[0-9a-f]{12}</code>', html)
    assert 'href="/api/ledger/1"' in html and 'href="/r/1"' in html


def queued_with_a_moderator(services, client) -> None:
    """The demo article, a question, PASTE ingested as E1, and web moderator alice."""
    from bot.moderation.accounts import add_web_moderator
    from ledger.db import transaction

    load_demo(services)
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", "correct horse battery staple")
    for body in ("semax|does it raise BDNF in people?", f"ingest semax|q:1|{PASTE}"):
        post_signed(client, inbound_params(CONTRIBUTOR, body))
    drain(services)


def log_in(client) -> None:
    login = client.get("/moderate/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    client.post(
        "/moderate/login",
        data={"username": "alice", "password": "correct horse battery staple", "csrf_token": token},
    )


def test_the_queue_links_what_a_paste_cites(services, client, twilio):
    queued_with_a_moderator(services, client)
    log_in(client)
    for page in (client.get("/moderate/"), client.get("/moderate/e/1")):
        links = hrefs(page.get_data(as_text=True))
        assert "https://pubmed.ncbi.nlm.nih.gov/31234567/" in links
        assert not any(h.lower().startswith("javascript:") for h in links)


def test_a_citation_already_catalogued_is_named_to_moderator_and_contributor(
    services, client, twilio
):
    """The same PMID (and the DOI in another case) pasted again: the contributor's reply and
    the moderator's queue both say which entry already holds it."""
    from tests.bot.test_moderation import texts_to

    queued_with_a_moderator(services, client)
    post_signed(client, inbound_params(MODERATOR, "approve E1"))
    drain(services)
    again = "Also see PMID: 31234567 and DOI 10.1016/J.NEURES.2019.07.005"
    post_signed(client, inbound_params("+15551230009", f"ingest semax|q:1|{again}"))
    drain(services)
    reply = texts_to(twilio, "+15551230009")[-1]
    assert "Already in the ledger: PMID 31234567 (entry #" in reply, reply
    assert "doi 10.1016/j.neures.2019.07.005 (entry #" in reply.lower()
    log_in(client)
    queue = client.get("/moderate/").get_data(as_text=True)
    assert "Already catalogued: PMID 31234567 (entry #" in queue
    item = client.get("/moderate/e/2").get_data(as_text=True)
    assert 'id="duplicates"' in item
    post_signed(client, inbound_params(MODERATOR, "approve E2"))
    drain(services)
    receipt = texts_to(twilio, "+15551230009")[-1]
    assert "E2 approved" in receipt and "Already in the ledger before: PMID 31234567" in receipt
