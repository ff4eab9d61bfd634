"""Under a backlog, one inbound job handles the waiting messages after its own (take-along):
every message is still answered exactly once, in order, and a failure or a crash in a batch
loses nothing and does not hold the other messages back."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.messaging.queueing import inbound_job_id
from bot.worker import inbound as inbound_module
from bot.worker.sweeper import sweep
from bot.worker.take_along import TAKE_ALONG
from ledger.chain import verify
from ledger.models import QuestionNode
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.processes import run_worker
from tests.test_helpers import load_demo


def _post_backlog(client, count: int, *, body=lambda k: f"semax|backlog question {k}?"):
    senders = [f"+1555300{k:04d}" for k in range(count)]
    sids = []
    for k, sender in enumerate(senders):
        params = inbound_params(sender, body(k))
        assert post_signed(client, params).status_code == 200
        sids.append(params["MessageSid"])
    return senders, sids


def _statuses(services) -> Counter:
    with services.sessions() as session:
        return Counter(session.scalars(select(InboundMessage.status)))


def test_a_backlog_is_answered_once_each_by_fewer_jobs(client, services, twilio, redis_conn):
    load_demo(services)
    count = 2 * (TAKE_ALONG + 1) + 3
    senders, sids = _post_backlog(client, count)
    # The same person twice, after the rest: both answered, in the order sent.
    repeat = inbound_params(senders[0], "semax|does it raise BDNF in people?")
    again = inbound_params(senders[0], "semax|does it raise BDNF in people?")
    for params in (repeat, again):
        assert post_signed(client, params).status_code == 200

    drain(services)

    assert _statuses(services) == Counter({"done": count + 2})
    replies = Counter(m["to"] for m in twilio.messages)
    assert replies == Counter(senders) + Counter({senders[0]: 2})  # one reply per message
    finished = FinishedJobRegistry(queue=services.queue).count
    assert finished <= 4  # 35 messages: each job took up to TAKE_ALONG more along
    assert services.queue.count == 0
    # A taken job is gone from Redis (nothing left behind to run it a second time).
    taken = [sid for sid in sids if not redis_conn.exists(f"rq:job:{inbound_job_id(sid)}")]
    assert len(taken) >= count - finished
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(QuestionNode)) == count + 2
        rows = session.execute(
            select(InboundMessage.message_sid, OutboundMessage.body)
            .join(OutboundMessage, OutboundMessage.inbound_id == InboundMessage.id)
            .where(InboundMessage.message_sid.in_([repeat["MessageSid"], again["MessageSid"]]))
            .order_by(InboundMessage.id)
        ).all()
        assert {row.status for row in session.scalars(select(OutboundMessage))} == {"queued"}
    # Each is a question node of its own, numbered in the order they were sent.
    first, second = (int(body.split("q:")[1].split()[0]) for body in (rows[0].body, rows[1].body))
    assert first < second
    for reply in twilio.messages:
        assert "not medical advice" in reply["body"].lower()
    with services.engine.connect() as conn:
        assert verify(conn).ok


def test_a_failing_message_holds_no_other_back(client, services, twilio, monkeypatch):
    """The batch's transaction fails on one message: the messages the job took are queued
    again, in front, as jobs of their own; the job handles its own message alone; so every
    other message is answered in the same drain, and the failing one fails alone (its RQ
    retries run alone too)."""
    load_demo(services)
    senders, _ = _post_backlog(
        client, 5, body=lambda k: "semax|boom?" if k == 2 else f"semax|question {k}?"
    )
    real_dispatch = inbound_module.dispatch
    calls = Counter()

    def dispatch(command, ctx):
        calls[ctx.inbound.body] += 1
        if "boom" in ctx.inbound.body:
            raise RuntimeError("a handler bug")
        return real_dispatch(command, ctx)

    monkeypatch.setattr(inbound_module, "dispatch", dispatch)
    drain(services)  # no scheduler here: a failed job waits for its retry

    assert Counter(m["to"] for m in twilio.messages) == Counter(set(senders) - {senders[2]})
    with services.sessions() as session:
        waiting = session.scalars(
            select(InboundMessage.body).where(InboundMessage.status == "received")
        ).all()
    assert waiting == ["semax|boom?"]
    # Tried in 0's batch, then alone: messages given back run alone (a job that takes none
    # along), so a failing one cannot fail another batch.
    assert calls["semax|boom?"] == 2
    failed = services.queue.failed_job_registry.count + services.queue.scheduled_job_registry.count
    assert failed == 1  # only the failing message's own job is waiting for a retry


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing(client, services, twilio):
    """SIGKILL inside the batch's transaction: the taken messages have no job any more; the
    sweeper finds them as it finds any job lost with a worker, and each is answered once."""
    load_demo(services)
    senders, _ = _post_backlog(client, 6)

    assert run_worker(services, failpoints="before_commit=kill") == -9
    assert _statuses(services) == Counter({"received": 6})
    assert services.queue.count < 6  # taken along, then lost with the worker

    later = datetime.now(UTC) + timedelta(minutes=5)
    for _ in range(3):
        sweep(services, now=later)
        drain(services)
    assert _statuses(services) == Counter({"done": 6})
    assert Counter(m["to"] for m in twilio.messages) == Counter(senders)
    with services.engine.connect() as conn:
        assert verify(conn).ok


def test_a_batch_of_different_people_and_commands_keeps_each_ones_rights(client, services, twilio):
    """A stranger's forged approval, a moderator's approval, a question and a forged rejection
    queued together: the first job takes the question along, and gives the decisions back to
    run alone (take_along.MUST_RUN_ALONE); each is judged by its own sender, the item is
    decided once, by the moderator, and everyone gets their own answer."""
    from bot.messaging.models import InboundMessage as Inbound
    from ledger.models import Decision, Evidence

    moderator, stranger, asker = "+15550000001", "+15553330001", "+15553330002"
    contributor = "+15553330003"
    load_demo(services)
    paste = "Semax raised BDNF in rat hippocampus after stroke (PMID 16635254)"
    assert post_signed(client, inbound_params(asker, "semax|does it raise BDNF?")).status_code
    drain(services)  # q:1
    ingest = inbound_params(contributor, f"ingest semax|q:1|{paste}")
    assert post_signed(client, ingest).status_code == 200
    drain(services)  # E1, pending
    before = len(twilio.messages)
    for sender, body in (
        (stranger, "approve E1 human"),
        (moderator, "approve E1 preclinical"),
        (asker, "semax|does it raise BDNF in rats?"),
        (stranger, "reject E1 spam"),
    ):
        assert post_signed(client, inbound_params(sender, body)).status_code == 200
    drain(services)
    finished = FinishedJobRegistry(queue=services.queue).get_job_ids()
    # 2 before; now the first job (with the question along) and the two decisions, alone.
    assert len([i for i in finished if i.startswith("inbound-")]) == 2 + 3

    replies = {}
    for message in twilio.messages[before:]:
        replies.setdefault(message["to"], []).append(message["body"])
    assert [r.startswith("Not authorized") for r in replies[stranger]] == [True, True]
    assert any("approved" in r for r in replies[moderator])
    assert any("q:2" in r and "not medical advice" in r.lower() for r in replies[asker])
    assert any("E1" in r for r in replies[contributor])  # the receipt, as a notice
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 1
        assert session.scalar(select(Evidence.status)) == "approved"
        assert set(session.scalars(select(Inbound.status))) == {"done"}


def test_a_job_whose_message_has_files_takes_nothing_along(client, services, twilio, monkeypatch):
    """Its files are fetched first (up to 30 s): the text messages behind it stay queued for
    another worker, and a failed fetch is tried once per run (review finding)."""
    import uuid

    from bot.media.fetch import TransientFetchError
    from tests.support import media_files

    load_demo(services)
    assert post_signed(client, inbound_params("+15553001111", "semax|first?")).status_code == 200
    drain(services)  # q:1
    sid = "MM" + uuid.uuid4().hex
    url = twilio.add_media(media_files.phone_photo(), "image/jpeg", message_sid=sid)
    params = inbound_params("+15553001111", "ingest semax|q:1|vial", whatsapp=True, sid=sid)
    params.update(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert post_signed(client, params).status_code == 200
    for k in range(2):
        params = inbound_params(f"+1555300222{k}", f"semax|q{k}?")
        assert post_signed(client, params).status_code == 200
    fetches = []

    def fetch_files(services_, items, message_sid):
        fetches.append(services.queue.count)  # jobs still waiting while the files download
        raise TransientFetchError("media fetch failed (too slow); will retry")

    monkeypatch.setattr(inbound_module, "fetch_files", fetch_files)
    drain(services)
    assert fetches == [2]  # one fetch; both text messages were still waiting for their jobs
    answered = {m["to"] for m in twilio.messages}
    assert {"+15553002220", "+15553002221"} <= answered


def test_replies_to_one_person_keep_their_order(client, services, twilio, monkeypatch):
    """A batch's replies go out over several connections, but one person's in the order of
    their messages, however slow the first call (review finding)."""
    import time

    from bot.worker import sending

    load_demo(services)
    sender = "+15553009999"
    for body in ("semax|does it raise BDNF in people?", "HELP"):
        assert post_signed(client, inbound_params(sender, body)).status_code == 200
    for k in range(3):  # others in the same batch, sent meanwhile
        assert post_signed(client, inbound_params(f"+155530099{k:02d}", "HELP")).status_code
    real, first = sending._post, []

    def post(services_, message):
        if not first:
            first.append(message.id)
            time.sleep(0.3)  # network jitter on the first reply's call
        return real(services_, message)

    monkeypatch.setattr(sending, "_post", post)
    drain(services)
    bodies = [m["body"] for m in twilio.messages if m["to"] == sender]
    assert len(bodies) == 2 and bodies[0].startswith("Saved as q:")  # the answer, then HELP's
    assert len(twilio.messages) == 5


def test_one_failing_call_does_not_lose_the_others_records(client, services, twilio, monkeypatch):
    """An error nobody expected from one call: the replies Twilio took are still recorded with
    their SIDs, the failing one stays "sending" for the sweeper to reconcile, and the job
    fails as a lone send would (review finding)."""
    from bot.messaging.models import OutboundMessage
    from bot.worker import sending

    load_demo(services)
    for k in range(4):
        params = inbound_params(f"+155530033{k:02d}", f"semax|q{k}?")
        assert post_signed(client, params).status_code == 200
    real, seen = sending._post, []

    def post(services_, message):
        seen.append(message.id)
        if len(seen) == 1:
            raise ValueError("an error _post does not catch")
        return real(services_, message)

    monkeypatch.setattr(sending, "_post", post)
    drain(services)
    with services.sessions() as session:
        rows = session.execute(select(OutboundMessage.status, OutboundMessage.twilio_sid)).all()
    assert len(twilio.messages) == 3
    assert Counter(r.status for r in rows) == Counter({"queued": 3, "sending": 1})
    assert all(r.twilio_sid for r in rows if r.status == "queued")
    assert services.queue.scheduled_job_registry.count == 1  # the job's retry
