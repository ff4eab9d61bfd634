"""A text in, a ledger entry and a reply out: real HTTP, real Redis, real DB, real Twilio client."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.messaging.models import InboundMessage, OutboundMessage
from ledger.chain import verify
from ledger.models import Evidence, LedgerEntry, QuestionNode
from tests.support.messaging import drain, http_post_signed, inbound_params
from tests.support.settings import BOT_NUMBER, WHATSAPP_NUMBER
from tests.test_helpers import load_demo


def test_sms_question_becomes_ledger_entry_and_reply(services, live_server, twilio):
    load_demo(services)
    params = inbound_params("+15551234567", "semax|does it raise BDNF in people?")
    assert http_post_signed(live_server, params) == 200
    drain(services)

    [sent] = twilio.wait_for(count=1)
    assert sent["to"] == "+15551234567"
    assert sent["from_"] == BOT_NUMBER
    assert "Saved as q:1 on Semax" in sent["body"]
    assert "ingest semax|q:1|" in sent["body"]
    assert "Not medical advice" in sent["body"]
    assert sent["status_callback"] == "https://bot.example.test/twilio/status"

    with services.sessions() as session:
        entry = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
        assert entry.kind == "question"
        payload = json.loads(entry.payload)
        assert payload["question"] == "does it raise BDNF in people?"
        assert "+1555" not in entry.payload and "5551234567" not in entry.payload
        out = session.scalars(select(OutboundMessage)).one()
        assert out.twilio_sid == sent["sid"] and out.status == "queued"
    with services.engine.connect() as conn:
        assert verify(conn).ok


def test_whatsapp_ingest_creates_pending_evidence(services, live_server, twilio):
    load_demo(services)
    sender = "+447700900123"
    assert (
        http_post_signed(live_server, inbound_params(sender, "semax|human data?", whatsapp=True))
        == 200
    )
    drain(services)
    paste = "Rats given Semax https://pubmed.ncbi.nlm.nih.gov/16635254/ | more text\nline 2"
    params = inbound_params(sender, f"ingest semax|q:1|{paste}", whatsapp=True)
    assert http_post_signed(live_server, params) == 200
    drain(services)

    twilio.wait_for(count=3)  # two replies and one alert to the moderator
    messages = [m for m in twilio.messages if m["to"].endswith(sender)]
    assert all(m["to"] == "whatsapp:" + sender for m in messages)
    assert all(m["from_"] == "whatsapp:" + WHATSAPP_NUMBER for m in messages)
    assert "Evidence E1 is queued for review" in messages[1]["body"]
    with services.sessions() as session:
        evidence = session.get(Evidence, 1)
        assert evidence.status == "pending"
        assert evidence.paste == paste
        assert evidence.identifiers["pmids"] == ["16635254"]
        assert evidence.suggested_tier == "preclinical"
        assert session.get(QuestionNode, 1).article.slug == "semax"
        inbound = session.scalars(select(InboundMessage)).all()
        assert {m.status for m in inbound} == {"done"}
