"""Per-number limits: one polite notice, then stored but unanswered; loops cut off sooner."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messaging.models import InboundMessage
from bot.worker.rate_limit import NOTICE, REPEAT_LIMIT
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import count, load_demo

SENDER = "+15552600001"
MODERATOR = "+15550000001"


def send_all(client, services, twilio, bodies, sender=SENDER) -> list[str]:
    before = len(twilio.messages)
    for body in bodies:
        assert post_signed(client, inbound_params(sender, body)).status_code == 200
        drain(services)
    return [m["body"] for m in twilio.messages[before:] if m["to"] == sender]


class TestSmallLimit:
    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_count": 5}

    def test_past_the_limit_one_notice_then_silence_but_stored(self, client, services, twilio):
        load_demo(services)
        replies = send_all(client, services, twilio, [f"semax|question {n}?" for n in range(8)])
        assert len(replies) == 6
        assert all(r.startswith("Saved as q:") for r in replies[:5])
        assert replies[5] == NOTICE
        assert count(services, InboundMessage) == 8
        with services.sessions() as session:
            commands = session.scalars(select(InboundMessage.command)).all()
        assert commands.count("RateLimited(Ask)") == 3

    def test_moderators_are_not_limited(self, client, services, twilio):
        replies = send_all(client, services, twilio, ["pending"] * 8, sender=MODERATOR)
        assert replies == ["Nothing waits for review."] * 8


def test_the_same_text_over_and_over_is_cut_off(client, services, twilio):
    replies = send_all(client, services, twilio, ["hello bot"] * (REPEAT_LIMIT + 3))
    assert len(replies) == REPEAT_LIMIT + 1 and replies[-1] == NOTICE


def test_other_numbers_are_unaffected(client, services, twilio):
    send_all(client, services, twilio, ["hello bot"] * (REPEAT_LIMIT + 2))
    assert len(send_all(client, services, twilio, ["HELP"], sender="+15552600002")) == 1


class TestTwoDeploymentsShareOneRedis:
    """Two deployments (QUEUE_NAMEs, each its own database) on one Redis share no key."""

    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_count": 3, "queue_name": "deploy-a"}

    def test_limits_locks_and_job_ids_stay_apart(
        self, client, services, twilio, tmp_path, _sqlite_dbs, redis_conn
    ):
        from bot.messaging.queueing import enqueue_send
        from bot.ops.services import Services
        from bot.web.app import create_app
        from tests.support.settings import make_settings

        load_demo(services)
        replies = send_all(client, services, twilio, [f"semax|question {n}?" for n in range(5)])
        assert len(replies) == 4 and replies[-1] == NOTICE

        # The same number, the same Redis, another deployment: answered normally.
        other = Services(
            make_settings(
                tmp_path / "b",
                _sqlite_dbs.fresh_url(tmp_path),
                services.redis_url,
                services.settings.twilio_api_url,
                rate_limit_count=3,
                queue_name="deploy-b",
            )
        )
        try:
            other_client = create_app(services=other).test_client()
            reply = send_all(other_client, other, twilio, ["HELP"])
            assert len(reply) == 1 and reply[0] != NOTICE
            for deployment in (services, other):
                assert sweep_lock_taken(deployment)
                # Replies go out from the inbound job; a retried one becomes a send job.
                enqueue_send(deployment.queue, 1, in_s=60)
            keys = {key.decode() for key in redis_conn.keys("*")}
        finally:
            other.close()
            create_app(services=services)  # the first deployment is this process's again

        ours = {k for k in keys if not k.startswith("rq:")}
        assert all(k.startswith(("ledgerbot:deploy-a:", "ledgerbot:deploy-b:")) for k in ours), ours
        assert any(k.startswith("ledgerbot:deploy-a:rl:") for k in ours)
        assert any(k.startswith("ledgerbot:deploy-b:rl:") for k in ours)
        # Both databases number their replies from 1: RQ's job keys must still differ.
        jobs = {k for k in keys if k.startswith("rq:job:send-")}
        assert {"rq:job:send-deploy-a-1", "rq:job:send-deploy-b-1"} <= jobs, jobs


def sweep_lock_taken(services) -> bool:
    """Run one round of the worker's sweep loop; its lock is this deployment's own key."""
    import threading

    from bot.worker.runtime import _sweep_loop

    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_loop, args=(services, stop, 0.05))
    sweeper.start()
    try:
        key = services.settings.redis_key("sweep-lock")
        for _ in range(100):  # the lock lives one second; look while it does
            if services.redis.exists(key):
                return True
            stop.wait(0.01)
        return False
    finally:
        stop.set()
        sweeper.join()


class TestPerNumberNotPerChannel:
    """One number once got 20 SMS and 20 WhatsApp answers in one window."""

    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_count": 4}

    def test_sms_and_whatsapp_share_one_limit(self, client, services, twilio):
        load_demo(services)
        replies = []
        for n in range(6):
            params = inbound_params(SENDER, f"semax|question {n}?", whatsapp=n % 2 == 1)
            assert post_signed(client, params).status_code == 200
            drain(services)
        replies = [m["body"] for m in twilio.messages if m["to"].endswith(SENDER)]
        assert len(replies) == 5 and replies[-1] == NOTICE


class TestABatch:
    """Messages queued together are handled in one job (bot.worker.take_along) and limited in
    one round trip: the same verdicts, in order, as one at a time."""

    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_count": 5}

    def test_a_burst_handled_together_is_limited_as_one_at_a_time(self, client, services, twilio):
        load_demo(services)
        before = len(twilio.messages)
        for n in range(8):
            params = inbound_params(SENDER, f"semax|question {n}?")
            assert post_signed(client, params).status_code == 200
        drain(services)  # one job takes the other seven along
        replies = [m["body"] for m in twilio.messages[before:] if m["to"] == SENDER]
        assert len(replies) == 6
        assert all(r.startswith("Saved as q:") for r in replies[:5])
        assert replies[5] == NOTICE
        with services.sessions() as session:
            commands = session.scalars(
                select(InboundMessage.command).order_by(InboundMessage.id)
            ).all()
        assert commands == ["Ask"] * 5 + ["RateLimited(Ask)"] * 3
