"""Jobs queued by the previous release name ``bot.jobs.*``; this release's worker runs them."""

from __future__ import annotations

from rq import Retry

from bot.messaging.models import InboundMessage, OutboundMessage
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import load_demo

ASKER = "+15551234567"


def test_a_job_queued_under_the_old_names_still_runs(client, services, twilio, redis_conn):
    load_demo(services)
    # Store the message as the webhook does, but empty the queue of the job it enqueued...
    assert (
        post_signed(client, inbound_params(ASKER, "semax|does it raise BDNF?")).status_code == 200
    )
    services.queue.empty()
    with services.sessions() as session:
        inbound_id = session.query(InboundMessage.id).scalar()
    # ...and queue it exactly as ledgerbot 0.1 did: by the old dotted name.
    job = services.queue.enqueue(
        "bot.jobs.process_inbound", inbound_id, job_id="legacy-inbound", retry=Retry(max=1)
    )
    assert job.func_name == "bot.jobs.process_inbound"
    drain(services)
    assert job.get_status(refresh=True) == "finished"
    with services.sessions() as session:
        assert session.get(InboundMessage, inbound_id).status == "done"
        [outbound] = session.query(OutboundMessage).all()
    # The reply's send job is queued under the new name and delivered.
    [sent] = twilio.wait_for(count=1)
    assert sent["to"] == ASKER and sent["body"] == outbound.body

    old_send = services.queue.enqueue("bot.jobs.send_outbound", outbound.id, job_id="legacy-send")
    drain(services)
    assert old_send.get_status(refresh=True) == "finished"
    assert len(twilio.messages) == 1  # already sent: the old-name job is a no-op, not a resend
