"""WhatsApp quick-reply buttons: payloads read back as the typed commands, a tap takes the same
review path (moderators only, once), and what reaches Twilio is a Content template where one
is configured, text where not, and on SMS exactly what it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from bot.messaging.models import Contact, OutboundMessage
from bot.parsing import (
    TIERS,
    AddEvidence,
    Approve,
    More,
    Pending,
    Reject,
    Show,
    add_evidence_payload,
    canonical,
    parse,
    parse_message,
    parse_payload,
    payload_for,
    title_for,
)
from bot.parsing.buttons import MAX_PAYLOAD, MAX_TITLE
from ledger.models import Decision, Evidence, LedgerEntry
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import count, load_demo

MODERATOR = "+15550000001"  # in MODERATOR_NUMBERS (tests/conftest.py)
ASKER, CONTRIBUTOR, STRANGER = "+15551240001", "+15551240002", "+15551240003"
REVIEW_SID, ANSWER_SID = "HX" + "1" * 32, "HX" + "2" * 32
TEMPLATES = {"twilio_review_content_sid": REVIEW_SID, "twilio_answer_content_sid": ANSWER_SID}
QUESTION = "semax|does it raise BDNF in stroke patients?"
PASTE = "In rats, Semax raised BDNF 1.4x"

# --- the payload grammar (pure) ---------------------------------------------------------------

ids = st.integers(1, 2**31 - 1)
slugs = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda s: "--" not in s
)
buttoned = st.one_of(
    st.builds(Approve, ids, st.none() | st.sampled_from(TIERS)),
    st.builds(Reject, ids, st.just("")),
    st.builds(Show, ids),
    st.builds(Pending, st.none() | slugs),
    st.just(More()),
    st.builds(AddEvidence, slugs.filter(lambda s: not s.lstrip("q").isdigit()), ids),
)


@settings(max_examples=300, deadline=None)
@given(buttoned)
def test_every_button_reads_back_as_its_command(command):
    payload = payload_for(command)
    assert parse_payload(payload) == command
    assert len(payload) <= MAX_PAYLOAD and payload.isascii()
    assert 0 < len(title_for(command)) <= MAX_TITLE


@settings(max_examples=200, deadline=None)
@given(slugs.filter(lambda s: not s.lstrip("q").isdigit()), ids)
def test_add_evidence_names_the_question_it_was_under(slug, node_id):
    command = parse_payload(add_evidence_payload(slug, node_id))
    assert command == AddEvidence(slug, node_id)
    # What the reply tells the asker to type is the ingest line for that very question.
    assert canonical(command) == f"ingest {slug}|q:{node_id}|"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40))
def test_any_payload_is_a_command_or_the_body_is_read(payload, body):
    command = parse_payload(payload)
    if command is None:
        assert parse_message(body, payload) == parse(body)
    else:
        assert parse_message(body, payload) == command


@pytest.mark.parametrize(
    "payload",
    [
        "approve:E07",
        "approve:E7:gold",
        "APPROVE:E7",
        "approve:E2147483648",
        "approve:7",
        "reject:E7:spam",  # a reason never rides in a button
        "show:E7:x",
        "pending:Semax",
        "add:12:3",  # that slug would read as a q: number
        "add:semax:q3",
        "more:1",
        "approve:E７",
        "",
    ],
)
def test_a_malformed_payload_falls_back_to_the_body(payload):
    assert parse_payload(payload) is None
    assert parse_message("semax|hello?", payload) == parse("semax|hello?")


def test_titles_fit_whatsapp():
    assert [title_for(Approve(1, t)) for t in TIERS] == [
        "Approve as human",
        "Approve preclinical",
        "Approve as anecdotal",
    ]


# --- through the webhook, the worker and the Twilio stand-in -----------------------------------


def send(client, services, twilio, sender, body, *, whatsapp=True, payload=None) -> list[dict]:
    """One text (or, with ``payload``, one tap: Body and ButtonText are the title, as Twilio
    sends it); the messages Twilio was then asked to send to ``sender``."""
    before = len(twilio.messages)
    params = inbound_params(sender, body, whatsapp=whatsapp)
    if payload is not None:
        params.update(ButtonPayload=payload, ButtonText=body)
    assert post_signed(client, params).status_code == 200
    drain(services)
    return [m for m in twilio.messages[before:] if m["to"].endswith(sender)]


def variables(message) -> dict:
    return json.loads(message["content_variables"])


@pytest.fixture
def queued(client, services, twilio):
    """A moderator on WhatsApp (so alerts go there), an asker's question and one item."""
    load_demo(services)
    send(client, services, twilio, MODERATOR, "pending")
    send(client, services, twilio, ASKER, QUESTION, whatsapp=False)
    send(client, services, twilio, CONTRIBUTOR, f"ingest semax|q:1|{PASTE}", whatsapp=False)
    return services


class TestWithTemplates:
    @pytest.fixture
    def settings_overrides(self):
        return TEMPLATES

    def test_a_moderator_approves_from_the_alert_once(self, client, services, twilio, queued):
        [alert] = [m for m in twilio.messages if m["to"] == "whatsapp:" + MODERATOR][-1:]
        assert alert["content_sid"] == REVIEW_SID and alert["body"] is None
        shown = variables(alert)
        assert shown["1"].startswith("1 evidence item wait for review. Oldest: E1 semax q:1")
        assert shown["1"].endswith("(preclinical). Send: pending")
        assert [shown[str(n)] for n in range(2, 8)] == [
            "approve:E1:preclinical",
            "Approve preclinical",
            "reject:E1",
            "Reject",
            "show:E1",
            "Show",
        ]

        [reply] = send(client, services, twilio, MODERATOR, shown["3"], payload=shown["2"])
        assert reply["body"].startswith("E1 approved as preclinical: ledger entry #")
        assert reply["content_sid"] is None  # a decision offers no buttons
        with services.sessions() as session:
            entry = session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "evidence"))
            assert json.loads(entry.payload)["paste"] == PASTE
        receipt = [m["body"] for m in twilio.messages if m["to"] == CONTRIBUTOR][-1]
        assert receipt.startswith("E1 approved (preclinical): entry #")
        entries = count(services, LedgerEntry)

        [again] = send(client, services, twilio, MODERATOR, shown["3"], payload=shown["2"])
        assert again["body"].startswith("E1 was already approved by you at ")
        assert count(services, Decision) == 1 and count(services, LedgerEntry) == entries
        with services.sessions() as session:
            kinds = session.scalars(select(LedgerEntry.kind)).all()
        assert kinds.count("evidence") == 1 and kinds.count("moderation") == 1

    def test_pending_and_show_offer_the_first_item(self, client, services, twilio, queued):
        [pending] = send(client, services, twilio, MODERATOR, "pending")
        assert pending["content_sid"] == REVIEW_SID
        assert "1 waiting. Send: show E1 / approve E1" in variables(pending)["1"]
        assert variables(pending)["6"] == "show:E1"
        [shown] = send(client, services, twilio, MODERATOR, "Show", payload="show:E1")
        assert f"Paste: {PASTE}" in variables(shown)["1"]
        assert [variables(shown)[k] for k in "2467"] == [
            "approve:E1:preclinical",
            "reject:E1",
            "pending",
            "Pending",
        ]

    def test_a_reject_tap_asks_for_the_reason(self, client, services, twilio, queued):
        [reply] = send(client, services, twilio, MODERATOR, "Reject", payload="reject:E1")
        assert reply["body"] == "Say why E1 is rejected: reject E1 <reason>."
        assert count(services, Decision) == 0
        [reply] = send(client, services, twilio, MODERATOR, "reject E1 duplicate")
        assert reply["body"].startswith("E1 rejected; recorded as ledger entry #")

    def test_a_tap_on_an_item_already_decided_says_so(self, client, services, twilio, queued):
        send(client, services, twilio, MODERATOR, "approve E1 human")
        for payload in ("reject:E1", "approve:E1:anecdotal"):
            [reply] = send(client, services, twilio, MODERATOR, "tap", payload=payload)
            assert reply["body"].startswith("E1 was already approved by you at "), payload
        assert count(services, Decision) == 1

    def test_a_quick_reply_twilio_refuses_goes_as_text(self, client, services, twilio):
        load_demo(services)
        twilio.fail_next(1, status=400, code=21656, message="Invalid ContentVariables")
        [answer] = send(client, services, twilio, ASKER, QUESTION)
        assert answer["content_sid"] is None and "From the ledger:" in answer["body"]
        assert answer["body"].endswith("Not medical advice.")
        with services.sessions() as session:
            row = session.scalars(select(OutboundMessage)).one()
        assert row.status == "queued" and row.error_code == 21656

    def test_a_button_payload_on_sms_is_not_a_tap(self, client, services, twilio, queued):
        # Only WhatsApp has buttons; on SMS the body is what the person typed.
        [reply] = send(
            client, services, twilio, MODERATOR, "hello", whatsapp=False, payload="approve:E1:human"
        )
        assert count(services, Decision) == 0 and "approved" not in reply["body"]

    def test_an_answer_offers_more_and_add_evidence(self, client, services, twilio):
        load_demo(services)
        [answer] = send(client, services, twilio, ASKER, QUESTION)
        assert answer["content_sid"] == ANSWER_SID
        shown = variables(answer)
        assert "From the ledger:" in shown["1"] and shown["1"].endswith("Not medical advice.")
        assert [shown[k] for k in "2345"] == ["more", "More", "add:semax:1", "Add evidence"]
        [more] = send(client, services, twilio, ASKER, "More", payload="more")
        assert more["body"] is None and variables(more)["1"].startswith("More on q:1:")
        assert variables(more)["2"] == "more"
        # The exact line to send for this question, and that a photo or PDF may come with it.
        [add] = send(client, services, twilio, ASKER, "Add evidence", payload="add:semax:1")
        assert add["body"].startswith("Send your evidence for q:1 as: ingest semax|q:1|")
        assert "photo or PDF" in add["body"] and add["content_sid"] is None
        [wrong] = send(client, services, twilio, ASKER, "Add evidence", payload="add:bpc-157:1")
        assert wrong["body"] == "There is no question q:1 on bpc-157."
        assert count(services, Evidence) == 0

    def test_sms_is_unchanged(self, client, services, twilio):
        load_demo(services)
        send(client, services, twilio, MODERATOR, "pending", whatsapp=False)
        [answer] = send(client, services, twilio, ASKER, QUESTION, whatsapp=False)
        send(client, services, twilio, CONTRIBUTOR, f"ingest semax|q:1|{PASTE}", whatsapp=False)
        [pending] = send(client, services, twilio, MODERATOR, "pending", whatsapp=False)
        alert = [m for m in twilio.messages if m["to"] == MODERATOR][-2]
        assert alert["body"] == "1 evidence item wait for review. Send: pending"
        assert pending["body"].endswith(
            "1 waiting. Send: show E1 / approve E1 / reject E1 <reason>"
        )
        assert "From the ledger:" in answer["body"]
        assert all(m["content_sid"] is None for m in twilio.messages)
        with services.sessions() as session:
            assert set(session.scalars(select(OutboundMessage.buttons))) == {None}


class TestOutsideTheWindow:
    @pytest.fixture
    def settings_overrides(self):
        return {**TEMPLATES, "twilio_whatsapp_template_sid": "HX" + "3" * 32}

    def test_the_approved_template_wins_and_buttons_are_dropped(self, client, services, twilio):
        load_demo(services)
        send(client, services, twilio, MODERATOR, "pending")
        send(client, services, twilio, CONTRIBUTOR, "semax|q?", whatsapp=False)
        with services.sessions.begin() as session:
            session.execute(
                update(Contact)
                .where(Contact.number == MODERATOR)
                .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
            )
        send(client, services, twilio, CONTRIBUTOR, f"ingest semax|q:1|{PASTE}", whatsapp=False)
        [alert] = [m for m in twilio.messages if m["to"] == "whatsapp:" + MODERATOR][-1:]
        assert alert["content_sid"] == "HX" + "3" * 32
        assert list(variables(alert)) == ["1"] and "Oldest: E1" in variables(alert)["1"]
        with services.sessions() as session:
            row = session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "alert"))
            assert row.buttons is None


@pytest.mark.parametrize(
    "payload", ["approve:E1:human", "approve:E1", "reject:E1", "show:E1", "pending"]
)
def test_a_strangers_forged_tap_is_refused(client, services, twilio, queued, payload):
    [reply] = send(client, services, twilio, STRANGER, "Approve as human", payload=payload)
    assert reply["body"].startswith("Not authorized")
    assert count(services, Decision) == 0
    with services.sessions() as session:
        assert session.get(Evidence, 1).status == "pending"
        assert (
            session.scalar(
                select(OutboundMessage.buttons).where(OutboundMessage.to_number == STRANGER)
            )
            is None
        )


def test_without_templates_whatsapp_gets_text_and_the_row_keeps_buttons(
    client, services, twilio, queued
):
    [pending] = send(client, services, twilio, MODERATOR, "pending")
    assert pending["content_sid"] is None and pending["content_variables"] is None
    assert pending["body"].endswith("Send: show E1 / approve E1 / reject E1 <reason>")
    with services.sessions() as session:
        row = session.scalars(
            select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(1)
        ).one()
    assert [b["id"] for b in row.buttons] == ["approve:E1:preclinical", "reject:E1", "show:E1"]
    [reply] = send(client, services, twilio, MODERATOR, "Approve preclinical", payload="approve:E1")
    assert reply["body"].startswith("E1 approved as preclinical")


@pytest.mark.parametrize("settings_overrides", [TEMPLATES])
def test_a_text_too_long_for_a_quick_reply_goes_without_buttons(client, services, twilio):
    load_demo(services)
    send(client, services, twilio, ASKER, QUESTION, whatsapp=False)
    long_paste = "Randomized trial, 40 participants, BDNF in serum. " * 30
    send(
        client,
        services,
        twilio,
        CONTRIBUTOR,
        f"ingest semax|q:1|{long_paste[:1500]}",
        whatsapp=False,
    )
    [shown] = send(client, services, twilio, MODERATOR, "show E1")
    assert len(shown["body"]) > 1024 and shown["content_sid"] is None
