"""The moderation queue in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.moderation.accounts import add_web_moderator
from bot.ops.redis_embedded import free_port
from ledger.db import transaction
from ledger.models import Decision, Evidence
from tests.support.browser import chromium, needs_chromium
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.processes import served
from tests.test_helpers import load_demo

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"

pytestmark = [pytest.mark.slow, needs_chromium]
PORT = free_port()


@pytest.fixture
def settings_overrides():
    return {"public_url": f"http://127.0.0.1:{PORT}"}


@pytest.fixture
def site(app, services, client, twilio):
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", PASSWORD)
    load_demo(services)
    for body in (
        "semax|what do rats show?",
        "ingest semax|q:1|In rats, BDNF rose 1.4x",
        "ingest semax|q:1|<b>bold</b> I took it and felt great",
        "ingest semax|q:1|Randomized trial of 40 participants",
        "ingest semax|q:1|Mice given Semax recovered faster",
    ):
        response = post_signed(
            client, inbound_params("+15551230002", body), base=f"http://127.0.0.1:{PORT}"
        )
        assert response.status_code == 200
    drain(services)
    with served(app, PORT) as url:
        yield url


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_page()


def test_moderator_approves_rejects_and_bulk_approves(site, page, services):
    page.goto(f"{site}/moderate/")
    assert "/moderate/login" in page.url
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#waiting")
    assert "4 items waiting" in page.inner_text("#waiting")
    assert page.inner_text("#row-E2 td.paste").startswith("<b>bold</b>")  # shown, not rendered
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "moderation-queue.png"), full_page=True)

    # Approve one from its own page, with a chosen tier.
    page.click("text=E1")
    page.select_option("#approve select[name=tier]", "preclinical")
    page.click("#approve button")
    assert "E1 approved: ledger entry #" in page.inner_text("main")

    # Reject one with a reason.
    page.goto(f"{site}/moderate/e/2")
    page.fill("#reject input[name=reason]", "an anecdote without a source")
    page.click("#reject button")
    assert "E2 rejected" in page.inner_text("main")

    # Select the remaining two and approve them at once.
    page.goto(f"{site}/moderate/")
    page.check("input[value='3']")
    page.check("input[value='4']")
    page.click("button[value=approve]")
    text = page.inner_text("main")
    assert "E3 approved" in text and "E4 approved" in text
    assert "0 items waiting" in page.inner_text("#waiting")

    with services.sessions() as session:
        statuses = dict(session.execute(select(Evidence.id, Evidence.status)).all())
        assert statuses == {1: "approved", 2: "rejected", 3: "approved", 4: "approved"}
        decisions = session.scalars(select(Decision).order_by(Decision.id)).all()
        seqs = [d.moderation_seq for d in decisions]

    page.goto(f"{site}/moderate/audit")
    audit = page.inner_text("table.audit")
    for evidence_id in (1, 2, 3, 4):
        assert f"E{evidence_id} on semax" in audit
    assert "alice" in audit and "an anecdote without a source" in audit

    page.goto(f"{site}/ledger")
    ledger = page.inner_text("main")
    for seq in seqs:
        assert str(seq) in ledger
    assert "moderation" in ledger and "evidence" in ledger

    # Log out through the form (its CSRF token included): the queue is closed again.
    page.goto(f"{site}/moderate/")
    page.click("nav.moderate button")
    assert "/moderate/login" in page.url
    page.goto(f"{site}/moderate/")
    assert "/moderate/login" in page.url
