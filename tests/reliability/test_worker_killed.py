"""A worker SIGKILLed at any point of a message's path: on restart, one effect and one reply."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.worker.sweeper import sweep
from ledger.chain import verify
from ledger.models import LedgerEntry, QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.processes import run_worker
from tests.test_helpers import load_demo

pytestmark = pytest.mark.slow
SENDERS = ["+15551110001", "+15551110002", "+15551110003"]


@pytest.mark.parametrize(
    "failpoint",
    [
        "before_commit",  # handled, ledger appended, reply queued — none of it committed
        "after_commit",  # committed, reply not yet queued for sending
        "before_send",  # reply claimed for sending, Twilio not called
        "after_send",  # Twilio accepted the reply, we never recorded it
    ],
)
def test_killed_worker_leaves_one_effect_and_one_reply(client, services, twilio, failpoint):
    load_demo(services)
    for sender in SENDERS:
        params = inbound_params(sender, f"semax|question from {sender[-4:]}?")
        assert post_signed(client, params).status_code == 200

    assert run_worker(services, failpoints=f"{failpoint}=kill") == -9

    # Restart: the sweeper (run as if minutes had passed) finds what the dead worker left.
    later = datetime.now(UTC) + timedelta(minutes=5)
    for _ in range(4):
        sweep(services, now=later)
        drain(services)

    with services.sessions() as session:
        assert set(session.scalars(select(InboundMessage.status))) == {"done"}
        assert session.scalar(select(func.count()).select_from(QuestionNode)) == len(SENDERS)
        questions = session.scalars(
            select(LedgerEntry.kind).where(LedgerEntry.kind == "question")
        ).all()
        assert len(questions) == len(SENDERS)
        statuses = session.scalars(select(OutboundMessage.status)).all()
        assert sorted(statuses) == ["queued"] * len(SENDERS)
    replies = Counter(m["to"] for m in twilio.messages)
    assert replies == Counter(SENDERS)  # exactly one reply each
    with services.engine.connect() as conn:
        assert verify(conn).ok
