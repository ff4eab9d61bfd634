"""Outbound texts: sent once, retried when Twilio cannot take them, refused when opted out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.messaging.models import Contact, OutboundMessage
from bot.messaging.queueing import MAX_SEND_ATTEMPTS
from bot.worker.sending import TransientSendError, send_outbound
from tests.support.messaging import inbound_params, post_signed
from tests.test_helpers import load_demo


@pytest.fixture(autouse=True)
def _send_jobs_only(monkeypatch):
    """These tests drive the send job itself: the reply the inbound job would send at once is
    left pending, as when that job dies right after its commit (the sweeper then queues it)."""
    import bot.worker.inbound

    monkeypatch.setattr(bot.worker.inbound, "deliver_replies", lambda services, outbound_ids: None)


def queued_reply(client, services, body="semax|will this reach me?"):
    """Handle one inbound message and return the id of its (unsent) reply."""
    from bot.messaging.models import InboundMessage
    from bot.worker.inbound import process_inbound

    load_demo(services)
    post_signed(client, inbound_params("+15551234567", body))
    with services.sessions() as session:
        inbound_id = session.scalar(select(InboundMessage.id))
    process_inbound(inbound_id)
    with services.sessions() as session:
        return session.scalar(select(OutboundMessage.id))


def outbound(services, outbound_id) -> OutboundMessage:
    with services.sessions() as session:
        return session.get(OutboundMessage, outbound_id)


def test_server_error_is_retried_then_sent_once(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.fail_next(1, status=500)
    with pytest.raises(TransientSendError):
        send_outbound(outbound_id)
    assert outbound(services, outbound_id).status == "pending"
    assert send_outbound(outbound_id) == "sent"
    assert send_outbound(outbound_id) == "nothing to send"
    assert len(twilio.messages) == 1
    assert outbound(services, outbound_id).attempts == 2


def test_rate_limited_is_retried(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.fail_next(1, status=429)
    with pytest.raises(TransientSendError):
        send_outbound(outbound_id)
    assert send_outbound(outbound_id) == "sent"


def test_gives_up_after_the_attempt_limit_and_says_so(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.fail_next(MAX_SEND_ATTEMPTS, status=503)
    for _ in range(MAX_SEND_ATTEMPTS - 1):
        with pytest.raises(TransientSendError):
            send_outbound(outbound_id)
    assert send_outbound(outbound_id) == "failed"
    message = outbound(services, outbound_id)
    assert message.status == "failed" and message.attempts == MAX_SEND_ATTEMPTS
    assert twilio.messages == []


def test_opted_out_error_marks_the_contact_and_is_not_retried(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.fail_next(1, status=400, code=21610)
    assert send_outbound(outbound_id) == "failed"
    assert outbound(services, outbound_id).error_code == 21610
    with services.sessions() as session:
        assert session.scalar(select(Contact.opted_out))


def test_client_error_is_final(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.fail_next(1, status=400, code=21211)
    assert send_outbound(outbound_id) == "failed"
    assert send_outbound(outbound_id) == "nothing to send"


def test_timeout_is_reconciled_not_blindly_resent(client, services, twilio):
    """Twilio took the message but answered too late: we must not send it a second time."""
    from datetime import timedelta

    from bot.worker.sweeper import reconcile_sending

    outbound_id = queued_reply(client, services)
    twilio.delay_next(1, 3.0)  # the client gives up after 2 s; the stand-in keeps the message
    assert send_outbound(outbound_id) == "unconfirmed"
    assert outbound(services, outbound_id).status == "sending"
    assert send_outbound(outbound_id) == "nothing to send"  # an RQ retry changes nothing
    reconcile_sending(services, datetime.now(UTC) + timedelta(minutes=3))
    message = outbound(services, outbound_id)
    assert message.status == "queued" and message.twilio_sid == twilio.messages[0]["sid"]
    assert len(twilio.messages) == 1


def test_connection_refused_is_retried(client, services, twilio):
    outbound_id = queued_reply(client, services)
    twilio.stop()
    try:
        with pytest.raises(TransientSendError):
            send_outbound(outbound_id)
    finally:
        twilio.start()
    assert outbound(services, outbound_id).status == "pending"
    assert send_outbound(outbound_id) == "sent"
    assert len(twilio.messages) == 1


class TestDevMode:
    @pytest.fixture
    def settings_overrides(self):
        return {"twilio_account_sid": None}

    def test_replies_are_kept_in_the_outbox_not_dropped(self, client, services, twilio):
        outbound_id = queued_reply(client, services)
        assert send_outbound(outbound_id) == "nothing to send"
        message = outbound(services, outbound_id)
        assert message.status == "logged" and "Saved as q:1" in message.body
        assert twilio.messages == []


def test_without_an_auth_token_a_local_one_is_generated_and_kept(tmp_path):
    from bot.config import Settings
    from bot.ops.services import Services

    settings = Settings.load({"instance_path": str(tmp_path)}, env={})
    token = Services(settings).webhook_auth_token
    assert len(token) == 32
    assert Services(settings).webhook_auth_token == token
    assert not settings.twilio_configured


def test_a_failed_send_job_is_scheduled_for_retry_with_backoff(client, services, twilio):
    """Through a real worker: the job raises, RQ schedules it again (Retry needs the scheduler)."""
    from rq.registry import ScheduledJobRegistry

    from bot.messaging.queueing import SEND_RETRY, send_job_id
    from tests.support.messaging import drain

    outbound_id = queued_reply(client, services)  # its send job is queued
    twilio.fail_next(1, status=503)
    drain(services)
    registry = ScheduledJobRegistry(queue=services.queue)
    assert send_job_id(services.queue.name, outbound_id) in registry.get_job_ids()
    scheduled_at = registry.get_scheduled_time(send_job_id(services.queue.name, outbound_id))
    delay = (scheduled_at - datetime.now(UTC)).total_seconds()
    assert 0 < delay <= SEND_RETRY.intervals[0]
    assert outbound(services, outbound_id).status == "pending" and twilio.messages == []
