"""The web moderation queue: login, sessions, CSRF, decisions one or many, audit, escaping."""

from __future__ import annotations

import hmac
import html
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from bot.cli import cli
from bot.moderation.accounts import add_web_moderator
from bot.moderation.models import ModeratorSession
from ledger.db import transaction
from ledger.models import Decision, Evidence, LedgerEntry
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.settings import ACCOUNT_SID
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
    from bot.web.auth import LOGIN_LIMITS

    for _ in range(LOGIN_LIMITS["name"]):
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


def sent_to_login(response) -> bool:
    return response.status_code == 302 and "/moderate/login" in response.location


def cookie_header(client) -> str:
    return "ledgerbot_session=" + client.get_cookie("ledgerbot_session").value


def test_session_expires_eight_hours_after_login(client, services, moderator):
    log_in(client)
    assert client.get("/moderate/").status_code == 200
    with transaction(services.sessions) as session:
        session.execute(
            update(ModeratorSession).values(
                created_at=datetime.now(UTC) - timedelta(hours=8, seconds=1)
            )
        )
    assert sent_to_login(client.get("/moderate/"))


def test_session_idles_out(app, client, services, moderator):
    """The cookie's signed timestamp is checked on the server, whatever the browser keeps."""
    assert app.permanent_session_lifetime == timedelta(minutes=30)
    log_in(client)
    assert client.get("/moderate/").status_code == 200
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=1)
    time.sleep(2.1)
    assert sent_to_login(client.get("/moderate/"))


def test_removed_moderator_is_out_at_the_next_request(client, services, moderator):
    log_in(client)
    assert client.get("/moderate/").status_code == 200
    result = CliRunner().invoke(cli, ["moderators", "remove", "alice"], obj=services)
    assert result.exit_code == 0, result.output
    assert sent_to_login(client.get("/moderate/audit"))
    # Added back with a new password: the session from before stays dead.
    result = CliRunner().invoke(
        cli,
        ["moderators", "add", "alice", "--web", "--password", "a brand new password"],
        obj=services,
    )
    assert result.exit_code == 0, result.output
    assert sent_to_login(client.get("/moderate/"))


def test_cookie_copied_before_logout_is_worthless_after(app, client, services, moderator):
    log_in(client)
    copied = cookie_header(client)
    thief = app.test_client(use_cookies=False)
    assert thief.get("/moderate/", headers={"Cookie": copied}).status_code == 200
    response = client.post("/moderate/logout", data={"csrf_token": csrf(client, "/moderate/")})
    assert sent_to_login(response)
    assert sent_to_login(client.get("/moderate/"))
    assert sent_to_login(thief.get("/moderate/", headers={"Cookie": copied}))
    assert count(services, ModeratorSession) == 0


def test_each_login_is_a_new_session(app, client, services, moderator):
    """No fixation: logging in again closes the earlier session and its CSRF tokens."""
    old_token = csrf(client)
    log_in(client)
    first = cookie_header(client)
    log_in(client)
    assert count(services, ModeratorSession) == 1
    thief = app.test_client(use_cookies=False)
    assert sent_to_login(thief.get("/moderate/", headers={"Cookie": first}))
    response = client.post("/moderate/decide", data={"csrf_token": old_token, "action": "approve"})
    assert response.status_code == 400


def test_login_returns_only_into_moderate(client, services, moderator):
    response = client.get("/moderate/e/7")
    assert sent_to_login(response) and "next=/moderate/e/7" in response.location

    def log_in_to(target: str) -> str:
        form = {"username": "alice", "password": PASSWORD, "csrf_token": csrf(client)}
        return client.post("/moderate/login", query_string={"next": target}, data=form).location

    assert log_in_to("/moderate/e/7") == "/moderate/e/7"
    for target in ("https://evil.example/", "//evil.example/moderate", "/moderate/\\evil"):
        assert log_in_to(target) == "/moderate/"


def test_login_failures_are_counted_under_the_deployment_prefix(client, services, moderator):
    log_in(client, password="wrong")
    keys = services.redis.keys("ledgerbot:ledgerbot-test:login-failures:*")
    assert sorted(k.decode() for k in keys) == [
        "ledgerbot:ledgerbot-test:login-failures:address:127.0.0.1",
        "ledgerbot:ledgerbot-test:login-failures:all",
        "ledgerbot:ledgerbot-test:login-failures:name:alice",
    ]


@pytest.mark.parametrize("path", ["/moderate/login", "/moderate/logout", "/moderate/decide"])
@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_forms_without_this_sessions_token_are_refused(
    app, client, services, moderator, path, token
):
    log_in(client)
    data = {"username": "alice", "password": PASSWORD, "action": "approve", "evidence_id": "1"}
    if token == "wrong":
        data["csrf_token"] = "not-a-token"
    elif token == "another session's":
        data["csrf_token"] = csrf(app.test_client())
    response = client.post(path, data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<h1>Form refused</h1>" in page and "did not come from this site" in page
    assert client.get("/moderate/").status_code == 200  # still logged in: nothing happened
    assert count(services, ModeratorSession) == 1


def test_forms_behind_https_need_no_referer(app, client, services, moderator):
    """Every page says Referrer-Policy: no-referrer, so a Referer check would refuse them all."""
    https = {"X-Forwarded-Proto": "https"}
    page = client.get("/moderate/login", headers=https)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    assert client.post("/moderate/login", data=form, headers=https).status_code == 302


def test_webhook_needs_no_csrf_token(client, services):
    client.get("/moderate/login")  # a session cookie in the jar changes nothing
    response = post_signed(client, inbound_params(CONTRIBUTOR, "HELP"))
    assert response.status_code == 200
    status = {
        "MessageSid": "SM" + "0" * 32,
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
    }
    assert post_signed(client, status, path="/twilio/status").status_code == 204


def test_session_cookie_flags(client, services, moderator):
    response = log_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


SMUGGLED_PASTE = (
    "PMID: 29798983. 110 stroke patients; call 555–777–6001 or see "
    "https://example.org/?phone=+15557776001"
)


def published_on_page(page: str, element: str) -> str:
    """The text of ``<pre id=element>`` as a reader sees it: marks dropped, entities decoded."""
    inner = re.search(rf'<pre class="paste" id="{element}">(.*?)</pre>', page, re.S).group(1)
    return html.unescape(re.sub(r"</?mark>", "", inner))


def test_item_page_shows_exactly_what_approval_publishes(client, services, twilio, moderator):
    """Webhook → worker → web review → approve: the entry's paste and links are byte for byte
    what the item page showed, removed numbers marked; the queue marks them too."""
    load_demo(services)
    post_signed(client, inbound_params(CONTRIBUTOR, "semax|does it help after stroke?"))
    post_signed(client, inbound_params(CONTRIBUTOR, f"ingest semax|q:1|{SMUGGLED_PASTE}"))
    drain(services)
    log_in(client)

    queue = client.get("/moderate/").get_data(as_text=True)
    assert "<mark>[number removed]</mark>" in queue and "555–777–6001" not in queue
    page = client.get("/moderate/e/1").get_data(as_text=True)
    shown = published_on_page(page, "published")
    assert shown == (
        "PMID: 29798983. 110 stroke patients; call [number removed] or see "
        "https://example.org/?phone=[number removed]"
    )
    assert page.count("<mark>[number removed]</mark>") == 2
    assert "3 numbers will be removed before publishing." in page
    assert ">https://example.org/?phone=[number removed]</a>" in page  # a Link:, as published

    decide(client, ["1"], "approve", tier="human")
    with services.sessions() as session:
        payload = json.loads(
            session.scalar(select(LedgerEntry.payload).where(LedgerEntry.kind == "evidence"))
        )
    assert payload["paste"] == shown
    assert payload["identifiers"]["urls"] == ["https://example.org/?phone=[number removed]"]
    assert "5557776001" not in re.sub(r"\D", "", json.dumps(payload))


def test_rejected_from_the_web_leaves_a_keyed_digest(client, services, twilio, moderator, items):
    log_in(client)
    decide(client, ["2"], "reject", reason="call me on +1 555 123 4567")
    with services.sessions() as session:
        payload = json.loads(
            session.scalar(select(LedgerEntry.payload).where(LedgerEntry.kind == "moderation"))
        )
        paste = session.get(Evidence, 2).paste.encode()
    key = hmac.new(services.secret_key.encode(), b"ledgerbot paste digest v1", "sha256").digest()
    assert payload["paste_hmac_sha256"] == hmac.new(key, paste, "sha256").hexdigest()
    assert payload["reason"] == "call me on [number removed]"
