"""On PostgreSQL, two workers' transactions take their row locks in one order (claims, then
contacts sorted, then the ledger head), so a batch and a one-message transaction for the same
person wait for each other rather than deadlock (found by review: a batch that upserted each
contact as it reached it could hold the head while wanting a contact the other held)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from bot.messaging.models import InboundMessage
from bot.worker import inbound as inbound_module
from tests.support.messaging import inbound_params, post_signed
from tests.test_helpers import load_demo


def test_a_batch_and_a_lone_message_of_one_person_do_not_deadlock(
    client, services, database_url, monkeypatch
):
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only: SQLite has one write lock for the whole database")
    load_demo(services)
    ids = {}
    for name, sender in (("a", "+15553000001"), ("q1", "+15553000002"), ("q2", "+15553000002")):
        params = inbound_params(sender, f"semax|question {name}?")
        assert post_signed(client, params).status_code == 200
        with services.sessions() as session:
            ids[name] = session.scalar(
                select(InboundMessage.id).where(InboundMessage.message_sid == params["MessageSid"])
            )
    seen = {name: inbound_module._look(services, i) for name, i in ids.items()}
    real = inbound_module.dispatch
    w1_has_head = threading.Event()

    def dispatch(command, ctx):
        outcome = real(command, ctx)
        if ctx.inbound.body.endswith(" a?"):
            w1_has_head.set()  # its first append holds the ledger head now
            time.sleep(0.5)  # meanwhile W2 claims q1 and goes for Q's contact
        return outcome

    monkeypatch.setattr(inbound_module, "dispatch", dispatch)
    errors: dict[str, Exception] = {}

    def run(name, batch):
        try:
            inbound_module._handle(services, batch)
        except Exception as exc:
            errors[name] = exc

    w1 = threading.Thread(target=run, args=("W1", [seen["a"], seen["q2"]]))
    w1.start()
    assert w1_has_head.wait(10)
    w2 = threading.Thread(target=run, args=("W2", [seen["q1"]]))
    w2.start()
    w1.join(30)
    w2.join(30)
    assert errors == {}
    with services.sessions() as session:
        statuses = session.scalars(select(InboundMessage.status)).all()
    assert statuses == ["done"] * 3
