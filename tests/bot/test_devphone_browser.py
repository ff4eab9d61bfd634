"""The dev phone in a real browser (Debian's Chromium driven by Playwright): an asker, a
contributor and a moderator side by side in one page, from question to receipts."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from bot.catalogue.demo import DEMO_SLUG, load_demo_if_empty
from bot.ops.redis_embedded import free_port
from tests.support.browser import chromium, needs_chromium
from tests.support.messaging import drain
from tests.support.processes import served

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ASKER, CONTRIBUTOR, MODERATOR = "+15551110001", "+15551110002", "+15551110003"

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def database_url(tmp_path, _sqlite_dbs):
    """One backend: what a browser sees does not depend on the database, and the same pages
    and routes are tested on SQLite and PostgreSQL without a browser (CI time is the budget)."""
    return _sqlite_dbs.fresh_url(tmp_path)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(port):
    """Dev mode (no Twilio credentials), PUBLIC_URL the test server."""
    return {
        "twilio_account_sid": None,
        "twilio_auth_token": None,
        "public_url": f"http://127.0.0.1:{port}",
    }


@pytest.fixture
def site(app, services, port):
    load_demo_if_empty(services.sessions)
    with served(app, port) as url:
        yield url


@pytest.fixture
def page():
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(10_000)
        yield page


def panel(number: str) -> str:
    return "#phone-" + number.lstrip("+")


def send(page, number: str, body: str) -> None:
    page.fill(f"{panel(number)} textarea", body)
    page.click(f"{panel(number)} form.compose button[type=submit]")


def until_shown(page, services, number: str, text: str, timeout: float = 10.0) -> str:
    """Drain the queue (a real RQ worker, here in the test's thread) until the phone's thread,
    as the page's own polling draws it, shows ``text``; the thread's text."""
    deadline = time.monotonic() + timeout
    while True:
        drain(services)
        shown = page.inner_text(f"{panel(number)} .thread")
        if text in shown:
            return shown
        assert time.monotonic() < deadline, f"{number} never showed {text!r}: {shown}"
        page.wait_for_timeout(100)


def test_asker_contributor_and_moderator_side_by_side(site, page, services, tmp_path):
    problems = []  # CSP refusals and script errors ("Failed to load resource" is a 4xx)
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{site}/dev/phone")
    for number in (ASKER, CONTRIBUTOR, MODERATOR):
        page.fill("#new-number", number)
        page.click("#add-phone button")
        page.wait_for_selector(panel(number))
    page.fill("#new-number", "12345")
    page.click("#add-phone button")
    page.wait_for_selector("#add-error:has-text('not an E.164 phone number')")

    send(page, ASKER, f"{DEMO_SLUG}|does it raise BDNF in people?")
    asked = until_shown(page, services, ASKER, "Saved as q:")
    node = re.search(r"Saved as (q:\d+)", asked).group(1)

    paste = "Randomized trial of 40 participants: BDNF rose in serum, PMID 12345678"
    send(page, CONTRIBUTOR, f"ingest {DEMO_SLUG}|{node}|{paste}")
    queued = until_shown(page, services, CONTRIBUTOR, "is queued for review")
    evidence = re.search(r"Evidence (E\d+)", queued).group(1)

    page.click(f"{panel(MODERATOR)} .make-moderator")
    page.wait_for_selector(f"{panel(MODERATOR)} .moderator-badge", state="visible")
    send(page, MODERATOR, f"approve {evidence} human")
    until_shown(page, services, MODERATOR, f"{evidence} approved as human")

    until_shown(page, services, CONTRIBUTOR, f"{evidence} approved (human): entry #")
    receipt = page.locator(f"{panel(CONTRIBUTOR)} li.msg.out.kind-receipt")
    assert "logged" in receipt.inner_text()  # dev mode: kept and logged, with its status
    until_shown(page, services, ASKER, f"New human evidence arrived on your question {node}")
    notice = page.locator(f"{panel(ASKER)} li.kind-receipt")
    assert notice.count() == 1 and "Not medical advice" in notice.inner_text()

    shot = tmp_path / "devphone.png"
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "devphone.png")
    # The strict CSP held: the static script ran, and nothing was refused or thrown.
    assert not problems, problems


def test_a_whatsapp_button_is_drawn_and_tapped(site, page, services):
    """A WhatsApp reply's buttons sit under it; a tap is a text with ButtonPayload (the page
    shows the payload under the tap) and approves as typing would."""
    page.goto(f"{site}/dev/phone")
    for number in (CONTRIBUTOR, MODERATOR):
        page.fill("#new-number", number)
        page.click("#add-phone button")
        page.wait_for_selector(panel(number))
    send(page, CONTRIBUTOR, f"{DEMO_SLUG}|does it raise BDNF in people?")
    node = re.search(r"Saved as (q:\d+)", until_shown(page, services, CONTRIBUTOR, "Saved as q:"))
    send(page, CONTRIBUTOR, f"ingest {DEMO_SLUG}|{node.group(1)}|Randomized trial, PMID 12345678")
    queued = until_shown(page, services, CONTRIBUTOR, "is queued for review")
    evidence = re.search(r"Evidence (E\d+)", queued).group(1)
    page.click(f"{panel(MODERATOR)} .make-moderator")
    page.wait_for_selector(f"{panel(MODERATOR)} .moderator-badge", state="visible")
    page.select_option(f"{panel(MODERATOR)} select[name=channel]", "whatsapp")
    send(page, MODERATOR, "pending")
    until_shown(page, services, MODERATOR, "waiting. Send: show")
    buttons = page.locator(f"{panel(MODERATOR)} li.msg.out .quick-reply")
    assert buttons.all_inner_texts() == ["Approve as human", "Reject", "Show"]
    buttons.first.click()
    shown = until_shown(page, services, MODERATOR, f"{evidence} approved as human")
    assert f"tapped a button: approve:{evidence}:human" in shown


def test_the_dev_phone_fits_a_phone_and_passes_axe(site, services):
    """At 390 px the phones stack instead of scrolling sideways, and axe-core (when npm
    installed it) finds no serious or critical violation."""
    from tests.bot.test_pages_browser import AXE, PHONE

    with chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        page.goto(f"{site}/dev/phone")
        for number in (ASKER, CONTRIBUTOR):
            page.fill("#new-number", number)
            page.click("#add-phone button")
            page.wait_for_selector(panel(number))
        send(page, ASKER, f"{DEMO_SLUG}|does it raise BDNF in people?")
        until_shown(page, services, ASKER, "Saved as q:")
        width = page.evaluate("document.documentElement.scrollWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "devphone-390.png"), full_page=True)
        violations = []
        if AXE.exists():
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
            result = page.evaluate("async () => await axe.run(document)")
            violations = [
                f"{v['id']} ({v['impact']})"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
    assert width <= PHONE["width"], width
    assert not violations, violations
