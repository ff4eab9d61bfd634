"""Every page in a real browser: nothing scrolls sideways on a phone, axe-core finds no serious
or critical accessibility violation, and the review queue works from the keyboard.

Debian's Chromium driven by Playwright; axe-core comes from tests/browser/node_modules
(`make test` installs it with npm from the lock file) and is evaluated in the page, never
fetched over the network. Screenshots go to test-artifacts/pages/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.moderation.accounts import add_web_moderator
from bot.ops.redis_embedded import free_port
from bot.worker.checkpointer import checkpoint_once
from ledger.db import transaction
from tests.bot.test_moderate_browser import PASSWORD
from tests.support.browser import chromium, needs_chromium
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.processes import served
from tests.test_helpers import ROOT, load_demo

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "pages"
PHONE = {"width": 390, "height": 844}
PORT = free_port()
MODERATOR = "+15550000001"
PAGES = ("/", "/a/semax", "/ledger", "/r/1", "/moderate/login")
MODERATOR_PAGES = ("/moderate/", "/moderate/e/2", "/moderate/audit")

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def database_url(tmp_path, _sqlite_dbs):
    """One backend: what a browser sees does not depend on the database, and the same pages
    and routes are tested on SQLite and PostgreSQL without a browser (CI time is the budget)."""
    return _sqlite_dbs.fresh_url(tmp_path)


@pytest.fixture
def settings_overrides():
    return {"public_url": f"http://127.0.0.1:{PORT}"}


@pytest.fixture
def site(app, services, client, twilio):
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", PASSWORD)
    load_demo(services)
    base = f"http://127.0.0.1:{PORT}"
    for sender, body in (
        ("+15551230002", "semax|does it raise BDNF in people?"),
        ("+15551230002", "ingest semax|q:1|PMID 31234567: in rats BDNF rose 1.4x " + "x" * 300),
        ("+15551230003", "ingest semax|q:1|https://example.org/" + "very-long-path/" * 12),
        ("+15551230003", "ingest semax|q:1|Randomized trial NCT01234567 of 40 participants"),
    ):
        assert post_signed(client, inbound_params(sender, body), base=base).status_code == 200
    drain(services)
    post_signed(client, inbound_params(MODERATOR, "approve E1"), base=base)
    drain(services)
    checkpoint_once(services)
    with served(app, PORT):
        yield base


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


def _log_in(page, site: str) -> None:
    page.goto(site + "/moderate/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/moderate/?$"))


def _name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "index"


def test_no_page_scrolls_sideways_on_a_phone(site, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=PHONE)
    widths = {}
    for path in (*PAGES, "LOGIN", *MODERATOR_PAGES):
        if path == "LOGIN":
            _log_in(page, site)
            continue
        page.goto(site + path)
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(ARTIFACTS / f"{_name(path)}-390.png"), full_page=True)
    assert all(width <= PHONE["width"] for width in widths.values()), widths


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (make test runs npm ci)")
def test_axe_finds_no_serious_or_critical_violation(site, browser):
    source = AXE.read_text(encoding="utf-8")
    found = {}
    for viewport in (PHONE,):  # the narrow layout: where reflowed tables and labels live
        page = browser.new_page(viewport=viewport)
        for path in (*PAGES, "LOGIN", *MODERATOR_PAGES):
            if path == "LOGIN":
                _log_in(page, site)
                continue
            page.goto(site + path)
            page.evaluate(source + "\n;0")  # evaluated by the browser tool, not fetched
            result = page.evaluate("async () => await axe.run(document)")
            bad = [
                f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            if bad:
                found[f"{path} @{viewport['width']}"] = bad
        page.close()
    assert not found, found


def test_the_queue_works_from_the_keyboard(site, browser, services):
    from ledger.models import Evidence

    page = browser.new_page()
    _log_in(page, site)
    page.goto(site + "/moderate/")
    page.focus("input[name=evidence_id][value='2']")
    page.keyboard.press("Space")
    assert page.is_checked("input[name=evidence_id][value='2']")
    page.focus("button[value=approve]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash")
    with services.sessions() as session:
        assert session.get(Evidence, 2).status == "approved"
    page.screenshot(path=str(ARTIFACTS / "queue-after-keyboard-approve.png"))
    assert Path(ARTIFACTS / "queue-after-keyboard-approve.png").exists()
