"""The webhook's promises: signed or refused, stored before queued, duplicates are no-ops."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.ops import redis_embedded
from bot.ops.services import Services, install
from bot.worker.sweeper import sweep
from ledger.models import QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.settings import ACCOUNT_SID
from tests.test_helpers import count, load_demo


def test_bad_signature_is_refused_and_nothing_stored(client, services):
    params = inbound_params("+15551234567", "semax|anything?")
    response = client.post("/twilio/messages", data=params, headers={"X-Twilio-Signature": "bad"})
    assert response.status_code == 403
    response = client.post("/twilio/messages", data=params)
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


def test_signature_over_a_different_body_is_refused(client, services):
    params = inbound_params("+15551234567", "semax|anything?")
    from tests.support.settings import sign

    signature = sign(params)
    tampered = dict(params, Body="approve E1")
    response = client.post(
        "/twilio/messages", data=tampered, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert count(services, InboundMessage) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": ""},
        {"From": ""},
        {"From": "not-a-number"},
        {"To": "+1"},
        {"MessageSid": "SM" + "x" * 100},
    ],
)
def test_missing_or_malformed_fields_get_400(client, services, change):
    params = dict(inbound_params("+15551234567", "semax|q?"), **change)
    response = post_signed(client, params)
    assert response.status_code == 400
    assert count(services, InboundMessage) == 0


def test_reply_is_empty_twiml(client, services):
    response = post_signed(client, inbound_params("+15551234567", "HELP"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert b"<Response/>" in response.data


def test_duplicate_delivery_has_one_effect(client, services, twilio):
    load_demo(services)
    params = inbound_params("+15551234567", "semax|does it help memory?")
    for _ in range(3):
        assert post_signed(client, params).status_code == 200
    drain(services)
    assert count(services, InboundMessage) == 1
    assert count(services, QuestionNode) == 1
    assert len(twilio.wait_for(count=1)) == 1
    assert count(services, OutboundMessage) == 1


def test_idempotency_token_dedupes_even_with_a_new_sid(client, services):
    headers = {"I-Twilio-Idempotency-Token": "token-123"}
    first = inbound_params("+15551234567", "HELP")
    second = inbound_params("+15551234567", "HELP")
    assert post_signed(client, first, headers=headers).status_code == 200
    assert post_signed(client, second, headers=headers).status_code == 200
    assert count(services, InboundMessage) == 1


def test_redis_down_at_webhook_time_then_swept(tmp_path, app, client, services, twilio):
    """Stored and acknowledged while Redis is down; processed once it is back."""
    load_demo(services)
    folder = str(tmp_path / "flaky-redis")
    server = redis_embedded.start(folder)
    flaky = Services(
        services.settings.__class__(**{**vars(services.settings), "redis_url": server.url}),
        engine=services.engine,
    )
    app.extensions["ledgerbot"] = install(flaky)
    server.stop()
    params = inbound_params("+15551234567", "semax|stored while redis is down?")
    assert post_signed(client, params).status_code == 200
    with services.sessions() as session:
        assert session.scalar(select(InboundMessage.status)) == "received"

    server = redis_embedded.start(folder, port=server.port)
    try:
        report = sweep(flaky, grace=_no_grace())
        assert report.inbound_queued == 1
        drain(flaky)
        [sent] = twilio.wait_for(count=1)
        assert "Saved as q:1" in sent["body"]
        assert sweep(flaky, grace=_no_grace()).inbound_queued == 0
    finally:
        flaky.close()
        server.stop()


def _no_grace():
    from datetime import timedelta

    return timedelta(seconds=-1)


def test_status_callback_records_delivery(client, services, twilio):
    load_demo(services)
    post_signed(client, inbound_params("+15551234567", "HELP"))
    drain(services)
    [sent] = twilio.wait_for(count=1)
    callback = {
        "MessageSid": sent["sid"],
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
    }
    assert post_signed(client, callback, path="/twilio/status").status_code == 204
    late = dict(callback, MessageStatus="sent")  # arrives out of order: must not regress
    assert post_signed(client, late, path="/twilio/status").status_code == 204
    with services.sessions() as session:
        assert session.scalar(select(OutboundMessage.status)) == "delivered"
    unsigned = client.post("/twilio/status", data=callback)
    assert unsigned.status_code == 403
