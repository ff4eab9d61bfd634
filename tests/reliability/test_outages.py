"""Redis, the database and Twilio going away and coming back: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.ops.services import Services, install
from bot.worker.inbound import process_inbound
from bot.worker.sending import TransientSendError, send_outbound
from bot.worker.sweeper import sweep
from ledger.chain import verify
from ledger.db import make_engine
from ledger.models import QuestionNode
from tests.support.messaging import drain, http_post_signed, inbound_params, post_signed
from tests.support.tcp_proxy import TcpProxy
from tests.test_helpers import count, load_demo

pytestmark = pytest.mark.slow
LATER = timedelta(minutes=5)


def recover(services) -> None:
    """What a restarted system does: sweep as if minutes had passed, and work the queue."""
    for _ in range(3):
        sweep(services, now=datetime.now(UTC) + LATER)
        drain(services)


@pytest.fixture
def redis_proxy(services):
    parts = urlsplit(services.redis_url)
    with TcpProxy(parts.hostname, parts.port) as proxy:
        db = parts.path or "/0"
        auth = parts.netloc.rpartition("@")[0]  # keep a password (the embedded Redis has one)
        auth = f"{auth}@" if auth else ""
        proxied = Services(
            replace(services.settings, redis_url=f"redis://{auth}127.0.0.1:{proxy.port}{db}"),
            engine=services.engine,
        )
        yield proxy, proxied
        proxied.close()


def test_redis_down_mid_burst(app, services, twilio, redis_proxy, live_server):
    proxy, proxied = redis_proxy
    app.extensions["ledgerbot"] = install(proxied)
    load_demo(services)
    senders = [f"+1555220{n:04d}" for n in range(60)]
    statuses: list[int] = []

    def send(batch):
        for sender in batch:
            statuses.append(http_post_signed(live_server, inbound_params(sender, "semax|up?")))

    send(senders[:20])
    proxy.stop()  # Redis disappears mid-burst
    threads = [threading.Thread(target=send, args=(senders[i::4],)) for i in range(20, 24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    proxy.start()  # and comes back on the same address
    assert statuses == [200] * 60
    assert count(services, InboundMessage) == 60

    recover(proxied)
    with services.sessions() as session:
        assert set(session.scalars(select(InboundMessage.status))) == {"done"}
    assert count(services, QuestionNode) == 60
    assert Counter(m["to"] for m in twilio.messages) == Counter(senders)
    with services.engine.connect() as conn:
        assert verify(conn).ok


def test_database_down_webhook_says_503_and_jobs_retry(app, client, services, twilio):
    if services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite is a local file: there is no database server to lose")
    load_demo(services)
    url = services.engine.url
    with TcpProxy(url.host, url.port or 5432) as proxy:
        proxied_url = url.set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(proxied_url.render_as_string(hide_password=False))
        proxied = Services(services.settings, engine=engine)
        proxied.__dict__["redis_url"] = services.redis_url
        app.extensions["ledgerbot"] = install(proxied)
        assert post_signed(client, inbound_params("+15552300001", "semax|one?")).status_code == 200

        proxy.stop()
        down = inbound_params("+15552300002", "semax|two?")
        assert post_signed(client, down).status_code == 503  # Twilio will retry
        with pytest.raises(OperationalError):
            process_inbound(1)  # the job fails (RQ retries it with backoff)

        proxy.start()
        assert post_signed(client, down).status_code == 200  # Twilio's retry is kept
        drain(proxied)
        engine.dispose()
    assert count(services, InboundMessage) == 2
    assert count(services, QuestionNode) == 2
    assert sorted(m["to"] for m in twilio.messages) == ["+15552300001", "+15552300002"]


def test_twilio_down_then_back_sends_each_reply_once(client, services, twilio):
    load_demo(services)
    post_signed(client, inbound_params("+15552400001", "semax|anyone there?"))
    with services.sessions() as session:
        inbound_id = session.scalar(select(InboundMessage.id))
    process_inbound(inbound_id)
    with services.sessions() as session:
        outbound_id = session.scalar(select(OutboundMessage.id))
    twilio.stop()
    with pytest.raises(TransientSendError):
        send_outbound(outbound_id)
    twilio.start()
    recover(services)
    assert [m["to"] for m in twilio.messages] == ["+15552400001"]
    with services.sessions() as session:
        assert session.get(OutboundMessage, outbound_id).status == "queued"


def test_same_message_sid_fifty_times_in_parallel(services, twilio, live_server):
    load_demo(services)
    params = inbound_params("+15552500001", "semax|once only?")
    statuses: list[int] = []
    barrier = threading.Barrier(50)

    def deliver():
        barrier.wait()
        statuses.append(http_post_signed(live_server, params))

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 50
    recover(services)
    assert count(services, InboundMessage) == 1
    assert count(services, QuestionNode) == 1
    assert len(twilio.messages) == 1
