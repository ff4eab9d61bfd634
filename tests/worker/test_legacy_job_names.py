"""Jobs queued by the previous release name ``bot.jobs.*``; this release's worker runs them."""

from __future__ import annotations

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.messaging.models import InboundMessage, OutboundMessage
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import load_demo

ASKER = "+15551234567"


def run_one_job(services) -> None:
    worker = SimpleWorker([services.queue], connection=services.redis, serializer=JSONSerializer)
    worker.work(burst=True, max_jobs=1, with_scheduler=False)


def test_jobs_queued_under_the_old_names_still_run(
    client, services, twilio, redis_conn, monkeypatch
):
    import bot.worker.inbound

    # 0.1's inbound job left the reply to a send job; keep it pending so that job is tested.
    monkeypatch.setattr(bot.worker.inbound, "deliver_replies", lambda services, outbound_ids: None)
    load_demo(services)
    # Stored as the webhook does, but the queue holds only what 0.1 would have queued.
    params = inbound_params(ASKER, "semax|does it raise BDNF?")
    assert post_signed(client, params).status_code == 200
    services.queue.empty()
    with services.sessions() as session:
        inbound_id = session.query(InboundMessage.id).scalar()
    handle = services.queue.enqueue("bot.jobs.process_inbound", inbound_id, job_id="old-inbound")
    assert handle.func_name == "bot.jobs.process_inbound"
    run_one_job(services)
    assert handle.get_status(refresh=True) == "finished"
    with services.sessions() as session:
        assert session.get(InboundMessage, inbound_id).status == "done"
        [outbound] = session.query(OutboundMessage).all()
        assert outbound.status == "pending"
    assert twilio.messages == []

    # The reply's send job as 0.1 named it, and nothing else: it sends the reply, once.
    services.queue.empty()
    send = services.queue.enqueue("bot.jobs.send_outbound", outbound.id, job_id="old-send")
    drain(services)
    assert send.get_status(refresh=True) == "finished"
    [sent] = twilio.wait_for(count=1)
    assert sent["to"] == ASKER and sent["body"] == outbound.body
    again = services.queue.enqueue("bot.jobs.send_outbound", outbound.id, job_id="old-send-2")
    drain(services)
    assert again.get_status(refresh=True) == "finished" and len(twilio.messages) == 1
