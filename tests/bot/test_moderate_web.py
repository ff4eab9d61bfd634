"""The web moderation queue: login, CSRF, decisions one or many, audit, escaping."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.moderation.accounts import add_web_moderator
from ledger.db import transaction
from ledger.models import Decision, Evidence
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import count, load_demo

PASSWORD = "correct horse battery staple"
CONTRIBUTOR = "+15551230002"


def csrf(client, path="/moderate/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, username="alice", password=PASSWORD):
    token = csrf(client)
    return client.post(
        "/moderate/login",
        data={"username": username, "password": password, "csrf_token": token},
    )


@pytest.fixture
def moderator(services):
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", PASSWORD)


@pytest.fixture
def items(client, services, twilio):
    load_demo(services)
    for body in (
        "semax|what do rats show?",
        "ingest semax|q:1|In rats, BDNF rose",
        "ingest semax|q:1|<script>alert('x')</script> I took it",
        "ingest semax|q:1|Randomized trial of 40 participants",
    ):
        post_signed(client, inbound_params(CONTRIBUTOR, body))
    drain(services)
    twilio.clear()


def decide(client, ids, action, **fields):
    data = {"csrf_token": csrf(client, "/moderate/"), "action": action, "evidence_id": ids}
    data.update(fields)
    return client.post("/moderate/decide", data=data, follow_redirects=True)


def test_queue_needs_login(client, services):
    response = client.get("/moderate/")
    assert response.status_code == 302 and "/moderate/login" in response.location


def test_wrong_password_then_rate_limited(client, services, moderator):
    for _ in range(5):
        assert log_in(client, password="wrong").status_code == 401
    assert log_in(client).status_code == 429  # even the right password waits now


def test_login_without_csrf_token_is_refused(client, services, moderator):
    client.get("/moderate/login")
    response = client.post("/moderate/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400


def test_queue_lists_oldest_first_and_escapes_pastes(client, services, moderator, items):
    assert log_in(client).status_code == 302
    page = client.get("/moderate/").get_data(as_text=True)
    assert page.index("row-E1") < page.index("row-E2") < page.index("row-E3")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "3 items waiting" in page
    assert "5551230002" not in page
    filtered = client.get("/moderate/?article=other").get_data(as_text=True)
    assert "0 items waiting on other" in filtered


def test_approve_reject_and_bulk_then_audit(client, services, twilio, moderator, items):
    log_in(client)
    page = decide(client, ["1"], "approve", tier="preclinical").get_data(as_text=True)
    assert "E1 approved: ledger entry #" in page
    page = decide(client, ["2"], "reject", reason="not evidence").get_data(as_text=True)
    assert "E2 rejected" in page
    page = decide(client, ["1", "3"], "approve").get_data(as_text=True)
    assert "E1 was already approved by alice; nothing changed." in page
    assert "E3 approved" in page
    with services.sessions() as session:
        statuses = dict(session.execute(select(Evidence.id, Evidence.status)).all())
        assert statuses == {1: "approved", 2: "rejected", 3: "approved"}
        assert session.get(Evidence, 3).tier == "human"  # the suggestion
    assert count(services, Decision) == 3
    drain(services)
    receipts = [m["body"] for m in twilio.messages if m["to"] == CONTRIBUTOR]
    assert len(receipts) == 3 and any("was not added: not evidence" in r for r in receipts)

    audit = client.get("/moderate/audit").get_data(as_text=True)
    for evidence_id in (1, 2, 3):
        assert f"audit-E{evidence_id}" in audit
    assert "alice" in audit and "/api/ledger/" in audit


def test_decision_without_csrf_is_refused(client, services, moderator, items):
    log_in(client)
    response = client.post("/moderate/decide", data={"action": "approve", "evidence_id": "1"})
    assert response.status_code == 400
    assert count(services, Decision) == 0


def test_session_expires(client, services, moderator):
    log_in(client)
    assert client.get("/moderate/").status_code == 200
    with client.session_transaction() as session:
        session["logged_in_at"] = 0
    assert client.get("/moderate/").status_code == 302


def test_session_cookie_flags(client, services, moderator):
    response = log_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
