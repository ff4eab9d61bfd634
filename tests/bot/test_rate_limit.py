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
