"""Fuzzing Twilio's two webhooks through the Flask test client, on every database backend.

Whatever arrives — random keys and values with control characters, missing or repeated
fields, bodies past MAX_CONTENT_LENGTH, bytes that are not UTF-8, the wrong content type — the
answer is a deliberate status (never a 500), an unsigned request never stores anything, and a
stored message keeps its Body exactly as sent.

Every input is fuzzed: the bugs this file once had to step around (SIDs RQ cannot name a job
after, NUL bytes, odd ErrorCodes) are fixed and pinned by tests in test_hostile_input.py.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from bot.messaging.addresses import AddressError, parse_twilio_address
from bot.messaging.models import InboundMessage, OutboundMessage
from bot.web import twilio_form
from bot.web.webhook import MAX_BODY, STATUS_RANK
from bot.worker import inbound as jobs
from ledger.db import transaction
from tests.support.settings import ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, WHATSAPP_NUMBER, sign
from tests.test_helpers import load_demo

MESSAGES = "/twilio/messages"
STATUS = "/twilio/status"
MAX_CONTENT = 256 * 1024
INBOUND_OK = {200, 400, 403, 413}
STATUS_OK = {204, 400, 403, 413}
# What RQ accepts in a job id; the webhook names the job "inbound-<MessageSid>".
JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]+")
KNOWN_OUTBOUND_SID = "SM" + "f" * 32

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any Unicode scalar value, control characters included; lone surrogates cannot be sent.
chars = st.characters(exclude_categories=("Cs",))
any_text = st.text(chars, max_size=40)
nasty = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\n",
        "\t\x0b\x0c",
        "\u202e",
        "\ufeff",
        "%00",
        "%ff",
        "&",
        "=",
        "+",
        "<script>alert(1)</script>",
        "'; DROP TABLE inbound_messages; --",
        "whatsapp:",
        "٣",
        "²",
        "9" * 40,
    ]
)
texts = st.one_of(any_text, nasty, st.builds(lambda a, b: a + b, nasty, any_text))
INBOUND_FIELDS = [
    "MessageSid",
    "SmsMessageSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl1",
    "MediaUrl9",
    "MediaUrl10",
]
STATUS_FIELDS = ["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "To", "From"]

# Header values cannot hold line breaks (the client refuses them before any server sees them).
tokens = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), min_size=1, max_size=200
)
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=40)
_numbers = itertools.count(1)


def e164() -> st.SearchStrategy[str]:
    return st.integers(10**9, 10**14).map(lambda n: f"+{n}")


sids = st.one_of(
    st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: "SM" + h),
    st.text("0123456789abcdefABCDEF_-", min_size=1, max_size=70),
    texts,
)
bodies = st.one_of(
    texts,
    st.text(chars, max_size=2000),
    # Long bodies are built by repetition so that hypothesis need not generate them char by char.
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "é", "<", "\x00", " "]), st.integers(0, 300_000)
    ),
    st.sampled_from(
        [
            "HELP",
            "semax|what do rats show?",
            "ingest semax|q:1|In rats, BDNF rose",
            "approve E1",
            "|follow up",
        ]
    ),
)


@st.composite
def inbound_forms(draw) -> MultiDict:
    """Mostly a real message with some fields dropped, replaced, repeated or added."""
    whatsapp = draw(st.booleans())
    prefix = "whatsapp:" if whatsapp else ""
    base = {
        "MessageSid": draw(sids),
        "AccountSid": "AC" + "1" * 32,
        "From": prefix + draw(st.one_of(e164(), texts)),
        "To": prefix + (WHATSAPP_NUMBER if whatsapp else BOT_NUMBER),
        "Body": draw(bodies),
        "NumMedia": draw(st.one_of(st.just("0"), st.integers(-3, 20).map(str), texts)),
    }
    dropped = draw(st.sets(st.sampled_from(sorted(base))))
    pairs = [(k, v) for k, v in base.items() if k not in dropped]
    replaced = draw(st.dictionaries(st.sampled_from(INBOUND_FIELDS), texts, max_size=3))
    pairs = [(k, replaced.pop(k, v)) for k, v in pairs] + list(replaced.items())
    keys = st.one_of(st.sampled_from(INBOUND_FIELDS), any_text)
    pairs += draw(st.lists(st.tuples(keys, texts), max_size=4))  # extras and repeats
    if draw(st.booleans()):
        pairs = draw(st.permutations(pairs))
    return MultiDict(pairs)


def reaches_storage(form, token: str | None = None) -> str | None:
    """The MessageSid the webhook will try to store, mirroring its checks before the insert.

    The form rules (Twilio's SID shapes, repeated and re-cut names, the account) are the
    production function's, attacked on their own in tests/bot/test_forgery.py; the rest is
    mirrored here independently.
    """
    try:
        twilio_form.check(form, ACCOUNT_SID)
    except twilio_form.FormRefused:
        return None
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not JOB_ID_SAFE.fullmatch(sid) or len(sid) > 64:
        return None
    if token is not None and not re.fullmatch(r"[\x21-\x7e]{1,128}", token):
        return None
    try:
        parse_twilio_address(form.get("From", ""))
        parse_twilio_address(form.get("To", ""))
    except AddressError:
        return None
    if len(form.get("Body", "")) > MAX_BODY:
        return None
    return sid


def stored_body(body: str) -> str:
    """NUL cannot be stored (PostgreSQL text) or published; the webhook makes it U+FFFD."""
    return body.replace("\x00", "\ufffd")


def backend_of(services) -> str:
    return services.engine.dialect.name


def content_length(path: str, **kwargs) -> int:
    environ = EnvironBuilder(path=path, method="POST", **kwargs).get_environ()
    return int(environ.get("CONTENT_LENGTH") or 0)


def inbound_count(services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage))


def stored(services, sid: str) -> InboundMessage | None:
    with services.sessions() as session:
        return session.scalar(select(InboundMessage).where(InboundMessage.message_sid == sid))


@pytest.fixture
def backend(services) -> str:
    return backend_of(services)


@pytest.fixture
def demo(services):
    load_demo(services)


# --- /twilio/messages ------------------------------------------------------------------------


@FUZZ
@given(form=inbound_forms(), token=st.one_of(st.none(), tokens))
def test_signed_random_forms_never_500_and_bodies_round_trip(
    client, services, backend, form, token
):
    # A header is latin-1 on the wire: send the token's UTF-8 bytes, as a proxy would pass them.
    header_token = token.encode("utf-8").decode("latin-1") if token else None
    headers = {"X-Twilio-Signature": sign(form)}
    if header_token:
        headers["I-Twilio-Idempotency-Token"] = header_token
    size = content_length(MESSAGES, data=form)
    before = inbound_count(services)

    response = client.post(MESSAGES, data=form, headers=headers)
    event(f"status {response.status_code}")

    assert response.status_code in INBOUND_OK, (response.status_code, form)
    if size > MAX_CONTENT:
        assert response.status_code == 413
        assert inbound_count(services) == before
        return
    # Signed over exactly what the server parses, so the signature check must pass.
    assert response.status_code in (200, 400), (response.status_code, form)
    sid = reaches_storage(form, header_token)
    assert (response.status_code == 200) == (sid is not None), (response.status_code, form)
    if response.status_code == 200:
        assert response.mimetype == "text/xml"
        if inbound_count(services) == before + 1:  # not a repeated sid or token
            row = stored(services, sid)
            assert row is not None
            assert row.body == stored_body(form.get("Body", ""))
            assert parse_twilio_address(form["From"]) == (row.channel, row.from_number)
    else:
        assert inbound_count(services) == before


@pytest.mark.parametrize("extra", [0, 1])
def test_content_length_limit_is_413_exactly_past_256_kib(client, services, extra):
    form = {"MessageSid": "SM" + "a" * 32, "From": "+15551230002", "To": BOT_NUMBER, "Body": ""}
    form["Body"] = "a" * (MAX_CONTENT - content_length(MESSAGES, data=form) + extra)
    assert content_length(MESSAGES, data=form) == MAX_CONTENT + extra

    response = client.post(MESSAGES, data=form, headers={"X-Twilio-Signature": sign(form)})

    assert response.status_code == (413 if extra else 400)  # 400: Body is over MAX_BODY
    assert inbound_count(services) == 0


@st.composite
def bad_signatures(draw, form: MultiDict) -> dict[str, str]:
    choice = draw(st.sampled_from(["none", "empty", "random", "other-token", "other-url", "other"]))
    if choice == "none":
        return {}
    if choice == "empty":
        return {"X-Twilio-Signature": ""}
    if choice == "random":
        return {"X-Twilio-Signature": draw(header_text)}
    if choice == "other-token":
        return {"X-Twilio-Signature": sign(form, token=AUTH_TOKEN[::-1])}
    if choice == "other-url":
        return {"X-Twilio-Signature": sign(form, base="https://evil.example.test")}
    other = MultiDict(form)
    other.add("Extra", draw(any_text))
    return {"X-Twilio-Signature": sign(other)}


@FUZZ
@given(data=st.data(), form=inbound_forms())
def test_unsigned_or_wrongly_signed_forms_are_refused(client, services, data, form):
    headers = data.draw(bad_signatures(form))
    size = content_length(MESSAGES, data=form)
    before = inbound_count(services)

    response = client.post(MESSAGES, data=form, headers=headers)

    # An oversized body may be refused before the signature is looked at.
    assert response.status_code in ((403, 413) if size > MAX_CONTENT else (403,)), form
    assert inbound_count(services) == before


CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "application/json",
    "text/plain",
    "text/xml",
    "",
]
raw_bodies = st.one_of(
    st.binary(max_size=500),
    # Form-looking bytes with invalid UTF-8, raw or percent-encoded.
    st.lists(
        st.tuples(
            st.sampled_from([b"MessageSid", b"From", b"To", b"Body", b"NumMedia", b"\xff\xfe"]),
            st.one_of(
                st.binary(max_size=30),
                st.sampled_from([b"SMabc", b"%2B15551234567", b"%ff%fe", b"\xc3\x28", b"%00"]),
            ),
        ),
        max_size=6,
    ).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs)),
    st.builds(lambda n: b"Body=" + b"\xff" * n, st.integers(0, 300_000)),
    # A real message whose Body is followed by arbitrary bytes.
    st.builds(
        lambda sid, tail: (
            b"MessageSid=SM" + sid.encode() + b"&From=%2B15551230002&To=%2B15005550006&Body=" + tail
        ),
        st.text("0123456789abcdef", min_size=32, max_size=32),
        st.one_of(
            st.binary(max_size=200),
            st.binary(max_size=50).map(lambda b: "".join(f"%{x:02x}" for x in b).encode()),
            st.sampled_from([b"%ff%fe", b"%c3%28", b"%00", b"%ed%a0%80", b"%F0%9F%98%80", b"\xff"]),
        ),
    ),
)


def parsed_form(path: str, data: bytes, content_type: str) -> MultiDict:
    """The form exactly as Flask will parse it from these bytes (empty when unparseable)."""
    environ = EnvironBuilder(
        path=path, method="POST", data=data, content_type=content_type or None
    ).get_environ()
    request = Request(environ)
    request.max_content_length = MAX_CONTENT
    try:
        return request.form
    except Exception:  # 413 and friends: nothing can be signed
        return MultiDict()


@FUZZ
@given(
    data=raw_bodies,
    content_type=st.one_of(st.just(CONTENT_TYPES[0]), st.sampled_from(CONTENT_TYPES)),
    signed=st.sampled_from([True, True, False]),
    path=st.sampled_from([MESSAGES, MESSAGES, STATUS]),
)
def test_raw_bodies_and_content_types_never_500(
    client, services, backend, data, content_type, signed, path
):
    form = parsed_form(path, data, content_type)
    headers = {"X-Twilio-Signature": sign(form, path)} if signed else {}
    before = inbound_count(services)

    response = client.post(path, data=data, content_type=content_type or None, headers=headers)
    event(f"{path} {response.status_code}")

    allowed = INBOUND_OK if path == MESSAGES else STATUS_OK
    assert response.status_code in allowed, (response.status_code, data[:200], content_type)
    if response.status_code == 413:
        assert len(data) > MAX_CONTENT
    elif not signed:
        # Oversized bodies may be refused (413) before or after the signature check (403).
        assert response.status_code == 403
    if response.status_code != 200:
        assert inbound_count(services) == before
    elif inbound_count(services) == before + 1:
        assert stored(services, reaches_storage(form)).body == stored_body(form.get("Body", ""))


# --- the stored message, handled by the worker -------------------------------------------


worker_bodies = st.one_of(
    texts,
    st.builds(
        lambda head, sep, tail: head + sep + tail,
        st.sampled_from(["ingest semax", "ingest q:1", "semax", "", "approve E1", "reject E1"]),
        st.sampled_from(["|", "|q:1|", " ", "|q:99999999999|", "｜"]),
        st.one_of(texts, st.text(chars, min_size=1590, max_size=1610)),
    ),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=worker_bodies, moderator=st.booleans())
def test_worker_handles_any_stored_body(client, services, backend, demo, body, moderator):
    """process_inbound is total: any body that was stored is handled, never left to retry."""
    sender = "+15550000001" if moderator else f"+1555{next(_numbers):07d}"
    sid = f"SM{next(_numbers):032d}"
    form = {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": BOT_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    response = client.post(MESSAGES, data=form, headers={"X-Twilio-Signature": sign(form)})
    if len(body) > MAX_BODY:
        assert response.status_code == 400
        return
    assert response.status_code == 200
    row = stored(services, sid)
    assert row.body == stored_body(body)

    assert jobs.process_inbound(row.id) == "handled"

    row = stored(services, sid)
    assert row.status == "done" and row.command
    with services.sessions() as session:
        replies = session.scalars(
            select(OutboundMessage.body).where(OutboundMessage.inbound_id == row.id)
        ).all()
    for reply in replies:
        assert "\x00" not in reply


# --- /twilio/status ---------------------------------------------------------------------------


@pytest.fixture
def outbound(services):
    with transaction(services.sessions) as session:
        session.add(
            OutboundMessage(
                key="fuzz",
                channel="sms",
                to_number="+15551230002",
                body="hi",
                status="sent",
                twilio_sid=KNOWN_OUTBOUND_SID,
            )
        )


def outbound_status(services) -> str:
    with services.sessions() as session:
        return session.scalar(
            select(OutboundMessage.status).where(OutboundMessage.twilio_sid == KNOWN_OUTBOUND_SID)
        )


@st.composite
def status_forms(draw) -> MultiDict:
    base = {
        "MessageSid": draw(st.one_of(st.just(KNOWN_OUTBOUND_SID), sids)),
        "MessageStatus": draw(
            st.one_of(
                st.sampled_from(sorted(STATUS_RANK)), st.sampled_from(["DELIVERED", "Sent"]), texts
            )
        ),
        "ErrorCode": draw(st.one_of(st.integers(0, 99999).map(str), texts)),
        "To": "+15551230002",
        "From": BOT_NUMBER,
    }
    dropped = draw(st.sets(st.sampled_from(sorted(base))))
    pairs = [(k, v) for k, v in base.items() if k not in dropped]
    keys = st.one_of(st.sampled_from(STATUS_FIELDS), any_text)
    pairs += draw(st.lists(st.tuples(keys, texts), max_size=4))
    return MultiDict(pairs)


@FUZZ
@given(form=status_forms(), signed=st.booleans())
def test_status_callbacks_never_500_and_never_move_back(
    client, services, backend, outbound, form, signed
):
    before = outbound_status(services)
    headers = {"X-Twilio-Signature": sign(form, STATUS)} if signed else {}

    response = client.post(STATUS, data=form, headers=headers)
    event(f"status {response.status_code}")

    assert response.status_code in STATUS_OK, (response.status_code, form)
    after = outbound_status(services)
    assert (response.status_code == 403) == (not signed), (response.status_code, form)
    if response.status_code != 204:
        assert after == before
    assert STATUS_RANK[after] >= STATUS_RANK[before]
