"""The dev phone (/dev/phone): only where it may be, texts in through the signed webhook over
real HTTP, threads with every outbox row and its status, moderators, and no 500 for bad
input. Also `ledgerbot text` finding the `up` of its instance folder (instance/up.json)."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.serving import make_server

from bot.cli import cli, instance_info
from bot.messaging.models import InboundMessage, OutboundMessage
from bot.messaging.signed_webhook import signed_post
from bot.moderation.models import ModeratorAccount
from bot.ops.redis_embedded import free_port
from bot.ops.services import Services
from bot.web.devphone import PAGE_POLICY
from tests.support.messaging import drain
from tests.support.settings import ACCOUNT_SID, make_settings
from tests.test_helpers import load_demo

ASKER, CONTRIBUTOR, MODERATOR = "+15551110001", "+15551110002", "+15551110003"
DEV = {"twilio_account_sid": None, "twilio_auth_token": None}
MODES = {
    "dev": DEV,  # no Twilio credentials: PUBLIC_URL is the test server
    "dev-no-public-url": DEV,  # PUBLIC_URL unset (see services): posts to the request's URL
    "dev-phone": {"dev_phone": True},  # Twilio configured (the stand-in), DEV_PHONE=1
    "twilio": {},  # Twilio configured, DEV_PHONE unset: no dev phone
}


@pytest.fixture
def mode() -> str:
    return "dev"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(mode, port):
    return {"public_url": f"http://127.0.0.1:{port}", **MODES[mode]}


@pytest.fixture
def services(tmp_path, database_url, redis_url, redis_conn, twilio, settings_overrides, mode):
    """conftest's, except that PUBLIC_URL can be unset (an override cannot say None)."""
    settings = make_settings(tmp_path, database_url, redis_url, twilio.url, **settings_overrides)
    if mode == "dev-no-public-url":
        settings = dataclasses.replace(settings, public_url=None)
    services = Services(settings)
    yield services
    services.close()


@pytest.fixture
def server(app, port):
    """The app on a real HTTP port (the one PUBLIC_URL names): the webhook is reached there."""
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


class Phone:
    """The page's calls, through the test client, on the server's host (cookies, CSRF)."""

    def __init__(self, client, base: str) -> None:
        self.client, self.base = client, base
        page = client.get("/dev/phone", base_url=base)
        assert page.status_code == 200
        self.csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)

    def post(self, path: str, csrf: bool = True, **form):
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.client.post(path, data=form, headers=headers, base_url=self.base)

    def send(self, number: str, body: str, channel: str = "sms") -> str:
        response = self.post("/dev/phone/send", number=number, body=body, channel=channel)
        assert response.status_code == 202, response.text
        return response.json["message_sid"]

    def threads(self, *numbers: str):
        return self.client.get(
            "/dev/phone/threads", query_string={"number": list(numbers)}, base_url=self.base
        )

    def thread(self, number: str) -> dict:
        response = self.threads(number)
        assert response.status_code == 200
        return response.json["phones"][0]


def until(services, done, timeout: float = 10.0):
    """Drain the queue (a real RQ worker) until ``done()`` is true."""
    deadline = time.monotonic() + timeout
    while True:
        drain(services)
        found = done()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def handled(services, sid: str):
    """The stored message once its job ran and its replies were handed on."""

    def check():
        with services.read_sessions() as session:
            row = session.scalar(select(InboundMessage).where(InboundMessage.message_sid == sid))
            waiting = session.scalar(
                select(OutboundMessage.id).where(OutboundMessage.status.in_(["pending", "sending"]))
            )
        return row if row is not None and row.status == "done" and waiting is None else None

    return until(services, check)


@pytest.mark.parametrize("mode", ["twilio"])
def test_absent_when_twilio_is_configured_and_dev_phone_unset(client):
    assert client.get("/dev/phone").status_code == 404
    assert client.get("/dev/phone/threads", query_string={"number": ASKER}).status_code == 404
    assert client.get("/dev/anything").status_code == 404
    # 404 before CSRF: the routes do not exist at all.
    assert client.post("/dev/phone/send", data={"number": ASKER}).status_code == 404
    assert client.post("/dev/phone/moderator", data={"number": ASKER}).status_code == 404


@pytest.mark.parametrize("mode", ["dev", "dev-phone"])
def test_present_in_dev_mode_and_with_dev_phone(client, services, mode):
    page = client.get("/dev/phone")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert policy == PAGE_POLICY and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "style-src 'self'" in policy and "object-src 'none'" in policy
    assert re.search(r'<script src="/static/devphone\.js" defer></script>', page.text)
    assert "<script>" not in page.text and " style=" not in page.text
    assert ("really sent" in page.text) == (mode == "dev-phone")
    script = client.get("/static/devphone.js")
    assert script.status_code == 200 and "javascript" in script.content_type
    assert client.get("/static/devphone.css").status_code == 200
    # Every other page keeps the strict policy.
    assert "script-src 'none'" in client.get("/").headers["Content-Security-Policy"]


@pytest.mark.parametrize("mode", ["dev", "dev-no-public-url"])
def test_a_text_goes_in_through_the_signed_webhook_over_http(client, services, server):
    phone = Phone(client, server)
    sid = phone.send(ASKER, "HELP", channel="whatsapp")
    row = handled(services, sid)  # only the webhook stores messages, and only signed ones
    assert (row.channel, row.from_number, row.body) == ("whatsapp", ASKER, "HELP")
    thread = phone.thread(ASKER)
    kinds = [(m["direction"], m["channel"], m["status"]) for m in thread["messages"]]
    assert kinds == [("in", "whatsapp", "done"), ("out", "whatsapp", "logged")]


def test_a_refused_webhook_shows_in_the_thread(client, services, port):
    # No server on PUBLIC_URL's port: nothing answers, and the page is told so.
    phone = Phone(client, f"http://127.0.0.1:{port}")
    phone.send(ASKER, "HELP")
    deadline = time.monotonic() + 10
    while not phone.thread(ASKER)["messages"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [refused] = phone.thread(ASKER)["messages"]
    assert refused["status"] == "refused" and "nothing answered" in refused["error"]


def test_threads_list_replies_receipts_and_notices_with_status(client, services, server):
    load_demo(services)
    phone = Phone(client, server)
    handled(services, phone.send(ASKER, "semax|does it raise BDNF in people?"))
    paste = "Randomized trial of 40 participants, PMID 12345678"
    handled(services, phone.send(CONTRIBUTOR, f"ingest semax|q:1|{paste}"))
    assert phone.post("/dev/phone/moderator", number=MODERATOR).json["moderator"] is True
    handled(services, phone.send(MODERATOR, "approve E1 human"))

    response = phone.threads(ASKER, CONTRIBUTOR, MODERATOR)
    asker, contributor, moderator = response.json["phones"]
    assert [p["moderator"] for p in (asker, contributor, moderator)] == [False, False, True]
    out = {
        p["number"]: [m for m in p["messages"] if m["direction"] == "out"]
        for p in (asker, contributor, moderator)
    }
    assert "Saved as q:1 on Semax" in out[ASKER][0]["body"]
    assert out[ASKER][-1]["kind"] == "receipt"
    assert "New human evidence arrived on your question q:1" in out[ASKER][-1]["body"]
    assert "Evidence E1 is queued for review" in out[CONTRIBUTOR][0]["body"]
    assert out[CONTRIBUTOR][-1]["kind"] == "receipt"
    assert out[CONTRIBUTOR][-1]["body"].startswith("E1 approved (human): entry #")
    assert "E1 approved as human" in out[MODERATOR][-1]["body"]
    statuses = {m["status"] for p in out.values() for m in p}
    assert statuses == {"logged"}  # dev mode: kept and logged, never sent
    texts = [m for m in contributor["messages"] if m["direction"] == "in"]
    assert [(m["body"], m["status"]) for m in texts] == [(f"ingest semax|q:1|{paste}", "done")]


@pytest.mark.parametrize("mode", ["dev-phone"])
def test_with_twilio_configured_replies_carry_twilios_status(client, services, server, twilio):
    phone = Phone(client, server)
    handled(services, phone.send(ASKER, "HELP"))
    [reply] = [m for m in phone.thread(ASKER)["messages"] if m["direction"] == "out"]
    assert reply["status"] == "queued" and reply["sid"] == twilio.wait_for(count=1)[0]["sid"]
    # Twilio's delivery callback moves it on, and the thread shows it.
    callback = {"MessageSid": reply["sid"], "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    token = services.webhook_auth_token
    assert signed_post(f"{server}/twilio/status", callback, token) == 204
    [reply] = [m for m in phone.thread(ASKER)["messages"] if m["direction"] == "out"]
    assert reply["status"] == "delivered"


def test_stop_over_sms_says_why_no_reply_comes(client, services, server):
    phone = Phone(client, server)
    handled(services, phone.send(ASKER, "STOP"))
    thread = phone.thread(ASKER)
    assert thread["opted_out"] is True
    [stop] = thread["messages"]
    assert "the carrier answers STOP and START itself" in stop["note"]


def test_marking_a_moderator_is_moderators_add(client, services, server):
    phone = Phone(client, server)
    assert phone.thread(CONTRIBUTOR)["moderator"] is False
    response = phone.post("/dev/phone/moderator", number="+1 (555) 111-0002")
    assert response.status_code == 200 and response.json["number"] == CONTRIBUTOR
    assert phone.post("/dev/phone/moderator", number=CONTRIBUTOR).status_code == 200  # again
    with services.read_sessions() as session:
        [account] = session.scalars(select(ModeratorAccount)).all()
        assert (account.kind, account.number, account.active) == ("phone", CONTRIBUTOR, True)
    assert phone.thread(CONTRIBUTOR)["moderator"] is True
    row = handled(services, phone.send(CONTRIBUTOR, "pending"))
    with services.read_sessions() as session:
        reply = session.scalar(select(OutboundMessage).where(OutboundMessage.inbound_id == row.id))
    assert reply.body.startswith("Nothing waits for review")


def test_whatsapp_buttons_are_drawn_and_a_tap_is_sent_as_twilio_sends_it(client, services, server):
    """Dev mode has no Content templates: the text goes as text, and the thread still lists
    the row's buttons; a tap is a signed webhook with ButtonPayload, ButtonText and Body."""
    load_demo(services)
    phone = Phone(client, server)
    handled(services, phone.send(ASKER, "semax|does it raise BDNF in people?"))
    handled(services, phone.send(CONTRIBUTOR, "ingest semax|q:1|Randomized trial, PMID 12345678"))
    phone.post("/dev/phone/moderator", number=MODERATOR)
    handled(services, phone.send(MODERATOR, "pending", channel="whatsapp"))
    [pending] = [m for m in phone.thread(MODERATOR)["messages"] if m["direction"] == "out"]
    assert pending["channel"] == "whatsapp" and pending["status"] == "logged"
    assert [b["id"] for b in pending["buttons"]] == ["approve:E1:human", "reject:E1", "show:E1"]
    approve = pending["buttons"][0]
    assert approve["title"] == "Approve as human"

    response = phone.post(
        "/dev/phone/send",
        number=MODERATOR,
        channel="whatsapp",
        body=approve["title"],
        button_payload=approve["id"],
    )
    assert response.status_code == 202
    row = handled(services, response.json["message_sid"])
    assert (row.body, row.button_payload, row.command) == (
        "Approve as human",
        "approve:E1:human",
        "Approve",
    )
    messages = phone.thread(MODERATOR)["messages"]
    assert messages[-2]["button"] == "approve:E1:human"
    assert messages[-1]["body"].startswith("E1 approved as human") and messages[-1]["buttons"] == []
    # SMS rows have no buttons: the asker's answer went by SMS.
    assert all(m.get("buttons") in (None, []) for m in phone.thread(ASKER)["messages"])


@pytest.mark.parametrize(
    "path, form",
    [
        ("/dev/phone/send", {"number": "12345", "body": "hi"}),
        ("/dev/phone/send", {"number": "", "body": "hi"}),
        ("/dev/phone/send", {"number": "+1555abc1234", "body": "hi"}),
        ("/dev/phone/send", {"number": "+999123456789", "body": "hi"}),
        ("/dev/phone/send", {"number": "+1555\x001110001", "body": "hi"}),
        ("/dev/phone/send", {"number": ASKER, "body": "  "}),
        ("/dev/phone/send", {"number": ASKER, "body": "x" * 10_001}),
        ("/dev/phone/send", {"number": ASKER, "body": "hi", "channel": "telegram"}),
        ("/dev/phone/send", {"number": ASKER, "body": "Show", "button_payload": "show:E1"}),
        (
            "/dev/phone/send",
            {"number": ASKER, "body": "Show", "channel": "whatsapp", "button_payload": "x" * 257},
        ),
        ("/dev/phone/moderator", {"number": "not a number"}),
        ("/dev/phone/moderator", {}),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason(client, services, path, form):
    phone = Phone(client, "http://localhost")
    response = phone.post(path, **form)
    assert response.status_code == 400 and response.json["error"]


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(numbers=st.lists(TEXT, max_size=14), body=TEXT, channel=TEXT)
def test_any_input_is_answered_without_a_500(client, services, numbers, body, channel):
    phone = Phone(client, "http://localhost")
    for number in numbers[:2] or [""]:
        for path in ("/dev/phone/send", "/dev/phone/moderator"):
            response = phone.post(path, number=number, body=body, channel=channel)
            assert response.status_code in (200, 202, 400), (path, number)
    response = phone.threads(*numbers)
    assert response.status_code in (200, 400), numbers


def test_missing_csrf_and_bad_queries_are_4xx_never_500(client, services):
    phone = Phone(client, "http://localhost")
    for path in ("/dev/phone/send", "/dev/phone/moderator"):
        response = phone.post(path, csrf=False, number=ASKER, body="hi")
        assert response.status_code == 400 and "Form refused" in response.text
    wrong = client.post(
        "/dev/phone/send", data={"number": ASKER, "body": "hi"}, headers={"X-CSRFToken": "x"}
    )
    assert wrong.status_code == 400
    assert client.get("/dev/phone/send").status_code == 405
    for query in ({}, {"number": "nope"}, {"number": [f"+1555111{n:04d}" for n in range(13)]}):
        response = client.get("/dev/phone/threads", query_string=query)
        assert response.status_code == 400 and response.json["error"]
    with services.read_sessions() as session:
        assert session.scalars(select(InboundMessage)).all() == []


def test_text_posts_to_the_up_of_its_instance_folder_and_explains_stop(
    services, server, port, tmp_path, twilio
):
    """No --url and no PUBLIC_URL: only instance/up.json says where the bot listens."""
    ours = services.settings
    instance = ours.instance_path
    os.makedirs(instance, exist_ok=True)
    info = instance_info.for_up(port, server, dev_phone=True)
    instance_info.write(instance, info)
    assert instance_info.read(instance) == info
    assert info.dev_phone_url == f"{server}/dev/phone"
    mine = dataclasses.replace(
        make_settings(tmp_path, ours.database_url, ours.redis_url, twilio.url, **DEV),
        public_url=None,
    )
    assert mine.instance_path == instance  # the same folder, so the same dev auth token
    cli_services = Services(mine)
    try:
        runner = CliRunner()
        args = ["text", "--from", ASKER, "--wait", "0.5", "STOP"]
        result = runner.invoke(cli, args, obj=cli_services, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "(no reply: over SMS the carrier answers STOP and START itself" in result.output
        with services.read_sessions() as session:
            assert session.scalar(select(InboundMessage.body)) == "STOP"
        nowhere = f"http://127.0.0.1:{free_port()}"
        args = ["text", "--from", ASKER, "--url", nowhere, "HELP"]
        result = runner.invoke(cli, args, obj=cli_services)
        assert result.exit_code == 1 and "nothing answered at" in result.output
    finally:
        cli_services.close()

    instance_info.remove(instance, pid=info.pid + 1)  # another up's file: left alone
    assert instance_info.read(instance) == info
    instance_info.remove(instance, pid=info.pid)
    assert instance_info.read(instance) is None
    dead = instance_info.UpInfo(2**22 + 1, port, server, server)  # beyond pid_max: no process
    instance_info.write(instance, dead)
    assert instance_info.read(instance) is None  # a SIGKILLed up's leftover is not trusted
