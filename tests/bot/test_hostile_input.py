"""Hostile content end to end: SQL, markup, scripts, control and bidi characters, NUL bytes.

Everything goes in as a correctly signed Twilio webhook and is handled by a real worker, on
SQLite and on PostgreSQL (TEST_DATABASE_URL). Afterwards the tables are intact, the chain
verifies, the text is stored exactly as sent, and every HTML page that shows it — public
pages and the moderation queue — shows it only as text: no tag, event-handler attribute or
``javascript:`` link from the input ever reaches the markup. The JSON API carries the text
byte-exact (entries must verify), as ``application/json``.

Several tests below first pinned real bugs (500s on odd MessageSids, NUL bytes, ErrorCodes and
page numbers; an unchecked media link); they now guard the fixes.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from sqlalchemy import func, inspect, select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.moderation.accounts import add_web_moderator
from bot.parsing.commands import MAX_PASTE
from bot.worker.sweeper import sweep
from ledger.chain import entry_hash, verify
from ledger.db import transaction
from ledger.models import Article, Base, Decision, Evidence, LedgerEntry, QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.settings import ACCOUNT_SID, BOT_NUMBER, sign
from tests.test_helpers import count, load_demo

PASSWORD = "correct horse battery staple"
ASKER = "+15551230001"

HOSTILE = [
    "'; DROP TABLE ledger_entries; --",
    "1'; DELETE FROM evidence WHERE '1'='1",
    "Robert'); DROP TABLE inbound_messages;--",
    "<script>alert(1)</script>",
    "<ScRiPt src=//evil.example/x.js></sCrIpT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '"><script>alert(document.cookie)</script>',
    "' onmouseover='alert(1)' x='",
    "javascript:alert(document.cookie)",
    '<a href="javascript:alert(1)">click me</a>',
    "<iframe src=javascript:alert(1)></iframe>",
    "</textarea></pre></code><script>alert(1)</script>",
    "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} ${7*7}",
    "bell\x07 escape\x1b[31m red\x1b[0m del\x7f vt\x0b ff\x0c end",
    "admin \u202egnp.exe\u202c \u2066isolated\u2069 \u200fRTL mark",
    "&lt;script&gt; already escaped &amp; &#60;b&#62;",
]


# --- helpers -------------------------------------------------------------------------------


class _Markup(HTMLParser):
    """Parses a page roughly as a browser would, collecting every tag and attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
_SCHEME_NOISE = re.compile(r"[\x00-\x20]")


def assert_inert(page: str, where: str) -> None:
    """No script, event handler or script URL anywhere in the page's markup."""
    lowered = page.lower()
    assert "<script" not in lowered, f"raw <script on {where}"
    parser = _Markup()
    parser.feed(page)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in {"script", "iframe", "object", "embed", "img"}, (where, tag, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler {name}= in <{tag}> on {where}"
            if name in _URL_ATTRS and value:
                scheme = _SCHEME_NOISE.sub("", value).lower()
                assert not scheme.startswith(("javascript:", "vbscript:", "data:")), (
                    f"script URL in <{tag} {name}> on {where}: {value!r}"
                )


def shown(text: str) -> str:
    """How Jinja's autoescape writes text into a page."""
    return str(escape(text))


def csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, services) -> None:
    with transaction(services.sessions) as session:
        add_web_moderator(session, "alice", PASSWORD)
    token = csrf(client, "/moderate/login")
    response = client.post(
        "/moderate/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def decide(client, ids, action, **fields):
    data = {"csrf_token": csrf(client, "/moderate/"), "action": action, "evidence_id": ids}
    data.update(fields)
    response = client.post("/moderate/decide", data=data, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def sender(index: int) -> str:
    # One number per message keeps the per-number rate limit out of the way.
    return f"+1555800{index:04d}"


def ask_first_question(client, services) -> int:
    post_signed(client, inbound_params(ASKER, "semax|what do rats show?"))
    drain(services)
    with services.sessions() as session:
        return session.scalar(
            select(QuestionNode.id).where(QuestionNode.text == "what do rats show?")
        )


def tables_intact(services) -> None:
    names = set(inspect(services.engine).get_table_names())
    assert set(Base.metadata.tables) <= names


def chain_verifies(services) -> None:
    with services.engine.connect() as conn:
        result = verify(conn)
    assert result.ok, result.as_dict()


def backend(services) -> str:
    return services.engine.dialect.name


@pytest.mark.parametrize("payload", [p for p in HOSTILE if "<" in p or "javascript:" in p])
def test_assert_inert_catches_the_payloads_when_raw(payload):
    """The checker itself: each markup payload, pasted unescaped into a page, is caught."""
    page = (
        f'<p>{payload}</p><a href="{payload}">x</a>' if "<" not in payload else f"<p>{payload}</p>"
    )
    with pytest.raises(AssertionError):
        assert_inert(page, "raw")
    assert_inert(f"<p>{shown(payload)}</p>", "escaped")


# --- the whole path, both backends ---------------------------------------------------------


def test_hostile_questions_and_pastes_end_to_end(client, services, twilio):
    load_demo(services)
    with services.sessions() as session:
        articles_before = session.scalar(select(func.count()).select_from(Article))
    node_id = ask_first_question(client, services)
    long_paste = ("<img src=x onerror=alert(1)>" * 100)[:MAX_PASTE]
    too_long = long_paste + "x"
    questions = [f"{p} does it work?" for p in HOSTILE]
    pastes = [*HOSTILE, long_paste]
    bodies = [f"semax|{q}" for q in questions]
    bodies += [f"ingest semax|q:{node_id}|{p}" for p in pastes]
    too_long_sender = sender(len(bodies))
    bodies += [f"ingest semax|q:{node_id}|{too_long}"]
    # Hostile slugs and moderator commands go through the grammar, never into SQL text.
    bodies += [f"{p}|question" for p in HOSTILE[:3]] + ["pending '; DROP TABLE evidence; --"]
    sent = {}
    for index, body in enumerate(bodies):
        params = inbound_params(sender(index), body)
        assert post_signed(client, params).status_code == 200, body
        sent[params["MessageSid"]] = body
    post_signed(client, inbound_params("+15550000001", "pending '; DROP TABLE evidence; --"))
    drain(services)

    # Stored exactly as sent, handled, tables intact, chain good.
    with services.sessions() as session:
        rows = session.scalars(select(InboundMessage)).all()
        for row in rows:
            assert row.status == "done", (row.body, row.status)
            if row.message_sid in sent:
                assert row.body == sent[row.message_sid]
        stored_questions = set(session.scalars(select(QuestionNode.text)).all())
        stored_pastes = session.scalars(select(Evidence.paste).order_by(Evidence.id)).all()
        assert session.scalar(select(func.count()).select_from(Article)) == articles_before
    tables_intact(services)
    chain_verifies(services)
    for question in questions:
        assert unicodedata.normalize("NFKC", question) == question  # stored as typed
        assert question in stored_questions
    assert stored_pastes == [p.strip() for p in pastes]  # 1,600 in, 1,601 refused
    too_long_reply = [m["body"] for m in twilio.messages if m["to"] == too_long_sender]
    assert any(f"up to {MAX_PASTE} characters" in body for body in too_long_reply)

    # The moderation queue, each item page, decisions with hostile reasons, the audit trail.
    log_in(client, services)
    queue = client.get("/moderate/").get_data(as_text=True)
    assert_inert(queue, "/moderate/")
    assert shown("<script>alert(1)</script>") in queue
    with services.sessions() as session:
        evidence = session.execute(select(Evidence.id, Evidence.paste)).all()
    for evidence_id, paste in evidence:
        page = client.get(f"/moderate/e/{evidence_id}").get_data(as_text=True)
        assert_inert(page, f"/moderate/e/{evidence_id}")
        assert shown(paste) in page
    half = len(evidence) // 2
    approved = [str(e) for e, _ in evidence[:half]]
    rejected = [str(e) for e, _ in evidence[half:]]
    assert_inert(decide(client, approved, "approve", tier="anecdotal"), "approve redirect")
    reason = "<img src=x onerror=alert(1)> '; DROP TABLE decisions; --"
    assert_inert(decide(client, rejected, "reject", reason=reason), "reject redirect")
    assert count(services, Decision) == len(evidence)
    audit = client.get("/moderate/audit").get_data(as_text=True)
    assert_inert(audit, "/moderate/audit")
    assert shown(reason) in audit
    filtered = client.get("/moderate/?article=<script>alert(1)</script>")
    assert_inert(filtered.get_data(as_text=True), "/moderate/?article=<script>")
    drain(services)  # the receipts
    tables_intact(services)
    chain_verifies(services)

    # Public pages: the questions, the approved pastes, the ledger previews.
    article = client.get("/a/semax").get_data(as_text=True)
    assert_inert(article, "/a/semax")
    for question in questions:  # "{{ 7*7 }}" included: shown as typed, never evaluated
        assert shown(question) in article, question
    for _, paste in evidence[:half]:
        assert shown(paste.strip()) in article, paste
    assert_inert(client.get("/").get_data(as_text=True), "/")
    head_seq = client.get("/api/ledger/head").get_json()["seq"]
    for page_number in range(1, -(-head_seq // 50) + 1):
        page = client.get(f"/ledger?page={page_number}").get_data(as_text=True)
        assert_inert(page, f"/ledger?page={page_number}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/ledger").get_data(as_text=True)
    for path in ("/a/<script>alert(1)</script>", '/a/x"><img src=x onerror=alert(1)>'):
        response = client.get(path)
        assert response.status_code == 404
        assert_inert(response.get_data(as_text=True), path)

    # The JSON API: byte-exact text, JSON content type, and entries that verify from outside.
    entries, after = [], 0
    while True:
        response = client.get(f"/api/ledger?after={after}&limit=1000")
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        entries += body["entries"]
        if not body["entries"]:
            break
        after = body["next_after"]
    with services.sessions() as session:
        assert len(entries) == session.scalar(select(func.count()).select_from(LedgerEntry))
    for entry in entries:
        assert entry_hash(entry) == entry["hash"], entry["seq"]
    asked = {e["payload"]["question"] for e in entries if e["kind"] == "question"}
    assert set(questions) <= asked
    added = {e["payload"]["paste"] for e in entries if e["kind"] == "evidence"}
    assert added == {p.strip() for _, p in evidence[:half]}
    api = client.get("/api/articles/semax/questions")
    assert api.mimetype == "application/json"
    assert set(questions) <= {q["question"] for q in api.get_json()["questions"]}


def test_media_content_type_is_escaped_in_moderation(client, services):
    load_demo(services)
    node_id = ask_first_question(client, services)
    params = inbound_params(sender(1), f"ingest semax|q:{node_id}|photo attached")
    params.update(
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaContentType0='image/png"><script>alert(1)</script>',
    )
    assert post_signed(client, params).status_code == 200
    drain(services)
    log_in(client, services)
    evidence_id = count(services, Evidence)
    page = client.get(f"/moderate/e/{evidence_id}").get_data(as_text=True)
    assert_inert(page, "/moderate/e/1")
    assert shown('image/png"><script>alert(1)</script>') in page


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)"])
def test_media_url_with_a_script_scheme_is_not_a_link(client, services, url):
    load_demo(services)
    node_id = ask_first_question(client, services)
    params = inbound_params(sender(1), f"ingest semax|q:{node_id}|see attachment")
    params.update(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert post_signed(client, params).status_code == 200
    drain(services)
    log_in(client, services)
    page = client.get(f"/moderate/e/{count(services, Evidence)}").get_data(as_text=True)
    assert_inert(page, "/moderate/e/<id>")


# --- NUL bytes ------------------------------------------------------------------------------

NUL_BODIES = {
    "question": "semax|does it \x00 work?",
    "paste": "ingest semax|q:{node}|pasted\x00text",
    "plain": "hello\x00",
    "only": "\x00",
}


@pytest.mark.parametrize("kind", sorted(NUL_BODIES))
def test_nul_byte_in_body_is_handled_on_every_backend(request, client, services, kind):
    load_demo(services)
    node_id = ask_first_question(client, services)
    body = NUL_BODIES[kind].format(node=node_id)

    response = post_signed(client, inbound_params(sender(1), body))

    # Stored with U+FFFD in place of the NUL (PostgreSQL text cannot hold one) and handled.
    assert response.status_code == 200
    drain(services)
    with services.sessions() as session:
        statuses = session.scalars(select(InboundMessage.status)).all()
    assert set(statuses) <= {"done"}
    tables_intact(services)
    chain_verifies(services)
    for path in ("/a/semax", "/ledger", "/api/ledger"):
        assert client.get(path).status_code == 200, path


def test_nul_in_idempotency_token_is_not_stored_raw(client, services):
    params = inbound_params(sender(1), "HELP")
    response = post_signed(client, params, headers={"I-Twilio-Idempotency-Token": "tok\x00en"})
    assert response.status_code == 400
    assert "Idempotency-Token" in response.get_data(as_text=True)
    with services.sessions() as session:
        assert session.scalars(select(InboundMessage.idempotency_token)).all() == []


# --- MessageSid that RQ cannot name a job after ---------------------------------------------


@pytest.mark.parametrize("sid", ["SM.1", "SM 1", "SM:1", "SMé1", "SM/../1", "SM\x001"])
def test_message_sid_outside_rq_job_id_alphabet_is_not_a_500(client, services, sid):
    response = post_signed(client, inbound_params(sender(1), "HELP", sid=sid))
    assert response.status_code == 400
    assert "MessageSid" in response.get_data(as_text=True)
    with services.sessions() as session:
        assert session.scalars(select(InboundMessage.status)).all() == []


def test_sweeper_is_not_poisoned_by_one_unqueueable_message(client, services):
    with transaction(services.sessions) as session:
        session.add(
            InboundMessage(
                message_sid="SM.poison",
                channel="sms",
                from_number=sender(1),
                to_number=BOT_NUMBER,
                body="HELP",
                media=[],
                status="received",
                attempts=0,
                received_at=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
    good = inbound_params(sender(2), "HELP")
    assert post_signed(client, good).status_code == 200
    services.redis.flushdb()  # the good message's job is lost, as after a Redis restart

    sweep(services, now=datetime.now(UTC) + timedelta(minutes=1))
    drain(services)

    with services.sessions() as session:
        row = session.scalar(
            select(InboundMessage).where(InboundMessage.message_sid == good["MessageSid"])
        )
    assert row.status == "done"


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+1٥٥٥١٢٣٤٥٦٧", "+1５５５１２３４５６７", "+1555१२३४५६७"])
def test_non_ascii_digits_are_not_a_phone_number(client, services, number):
    response = post_signed(client, inbound_params(number, "HELP"))
    assert response.status_code == 400
    assert count(services, InboundMessage) == 0


# --- /twilio/status -------------------------------------------------------------------------

KNOWN_SID = "SM" + "e" * 32


@pytest.fixture
def outbound(services):
    with transaction(services.sessions) as session:
        session.add(
            OutboundMessage(
                key="hostile",
                channel="sms",
                to_number=sender(1),
                body="hi",
                status="sent",
                twilio_sid=KNOWN_SID,
            )
        )


def test_status_callback_with_hostile_values(client, services, outbound):
    for form in (
        {"MessageSid": KNOWN_SID, "MessageStatus": "<script>alert(1)</script>"},
        {"MessageSid": "'; DROP TABLE outbound_messages; --", "MessageStatus": "delivered"},
        {"MessageSid": KNOWN_SID, "MessageStatus": "delivered", "ErrorCode": "1; DROP"},
        {"MessageSid": KNOWN_SID, "MessageStatus": "DELIVERED\u202e"},
    ):
        form["AccountSid"] = ACCOUNT_SID  # Twilio's callbacks name the account
        response = post_signed(client, form, "/twilio/status")
        assert response.status_code in (204, 400), form
    tables_intact(services)
    with services.sessions() as session:
        message = session.scalar(select(OutboundMessage))
    assert message.status == "delivered" and message.error_code is None


@pytest.mark.parametrize(
    "error_code",
    ["²", "٣٠٠٠٣", "9" * 12, "9" * 20, "9" * 5000],
    ids=["superscript", "arabic-indic", "12-digits", "20-digits", "5000-digits"],
)
def test_status_callback_odd_error_codes(request, client, services, outbound, error_code):
    form = {
        "MessageSid": KNOWN_SID,
        "MessageStatus": "undelivered",
        "ErrorCode": error_code,
        "AccountSid": ACCOUNT_SID,
    }

    response = post_signed(client, form, "/twilio/status")

    assert response.status_code in (204, 400)
    with services.sessions() as session:
        message = session.scalar(select(OutboundMessage))
    assert message.error_code is None or 0 <= message.error_code < 2**31


def test_status_callback_nul_in_sid(request, client, services, outbound):
    form = {"MessageSid": "SM\x00", "MessageStatus": "delivered"}
    assert post_signed(client, form, "/twilio/status").status_code in (204, 400)


def test_signed_status_for_an_unknown_sid_changes_nothing(client, services, outbound):
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "read", "AccountSid": ACCOUNT_SID}
    assert post_signed(client, form, "/twilio/status").status_code == 204
    with services.sessions() as session:
        assert session.scalar(select(OutboundMessage.status)) == "sent"


def test_unsigned_hostile_webhook_is_refused_before_anything_is_parsed(client, services):
    params = inbound_params(sender(1), "<script>alert(1)</script>")
    params["X"] = "\x00" * 10
    response = client.post("/twilio/messages", data=params)
    assert response.status_code == 403
    wrong = client.post(
        "/twilio/messages", data=params, headers={"X-Twilio-Signature": sign({"a": "b"})}
    )
    assert wrong.status_code == 403
    assert count(services, InboundMessage) == 0


# --- the moderation pages' own query parameters ---------------------------------------------


def test_audit_page_number_out_of_range_is_not_a_500(client, services):
    log_in(client, services)
    response = client.get("/moderate/audit?page=99999999999999999999")
    assert response.status_code in (200, 400, 404)


def test_queue_article_filter_with_hostile_values(request, client, services):
    log_in(client, services)
    for value in ("<script>alert(1)</script>", "'; DROP TABLE evidence; --", "x" * 5000):
        response = client.get("/moderate/", query_string={"article": value})
        assert response.status_code == 200
        assert_inert(response.get_data(as_text=True), "/moderate/?article=")
    # The filter is normalised like a typed slug: the NUL is dropped and nothing matches.
    response = client.get("/moderate/", query_string={"article": "a\x00b"})
    assert response.status_code == 200
    assert "a\x00b" not in response.get_data(as_text=True)
