"""Redis, the database and Twilio going away and coming back: nothing lost, nothing doubled
(work, replies and the metrics' counts)."""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.ops import metrics, redis_embedded
from bot.ops.services import Services, install
from bot.worker.inbound import process_inbound
from bot.worker.sending import TransientSendError, send_outbound
from bot.worker.sweeper import sweep
from ledger.chain import verify
from ledger.db import make_engine
from ledger.models import QuestionNode
from tests.bot.test_metrics import scrape, value
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
    twilio.stop()
    try:  # the inbound job's own send fails: the message is handled, the reply waits
        assert process_inbound(inbound_id) == "handled"
        with services.sessions() as session:
            [reply] = session.scalars(select(OutboundMessage)).all()
        assert reply.status == "pending" and reply.attempts == 1
        with pytest.raises(TransientSendError):  # and its send job, while Twilio stays down
            send_outbound(reply.id)
    finally:
        twilio.start()
    recover(services)
    assert [m["to"] for m in twilio.messages] == ["+15552400001"]
    with services.sessions() as session:
        assert session.get(OutboundMessage, reply.id).status == "queued"


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


# --------------------------------------------------------------------------- metrics


def _flaky_redis(tmp_path, app, services):
    """An embedded redis-server of this test's own (the shared one is not ours to stop)."""
    folder = tmp_path / "flaky-redis"
    server = redis_embedded.start(str(folder))
    flaky = Services(
        services.settings.__class__(**{**vars(services.settings), "redis_url": server.url}),
        engine=services.engine,
    )
    app.extensions["ledgerbot"] = install(flaky)
    return folder, server, flaky


def _lose_data(folder) -> None:
    """What a Redis restarted without its data (no persistence, a lost disk) starts from."""
    for path in folder.iterdir():
        if path.name.startswith(("appendonly", "ledgerbot.aof", "dump")):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _webhooks(client, n: int) -> None:
    """Answered 200 whether or not Redis is up (stored, and queued or not)."""
    for _ in range(n):
        assert post_signed(client, inbound_params("+15551234567", "HELP")).status_code == 200


def _counts(samples) -> dict[str, float]:
    return {
        outcome: value(samples, "ledgerbot_webhooks_total", outcome=outcome)
        for outcome in ("stored", "queue_unavailable")
    }


def _created(samples, outcome="stored") -> tuple[float, float]:
    """The counter's and the duration histogram's ``_created`` for one outcome."""
    return (
        value(samples, "ledgerbot_webhooks_created", outcome=outcome),
        value(samples, "ledgerbot_webhook_duration_seconds_created", outcome=outcome),
    )


def test_counts_survive_an_outage_and_a_restart_or_say_they_were_reset(
    tmp_path, app, client, services
):
    """N counted, Redis restarted (with its data, then without), M counted while it was down
    and after: the scrape shows N+M, or M with a later ``_created`` (a reset the Prometheus
    way) — never fewer than was counted since ``_created``."""
    folder, server, flaky = _flaky_redis(tmp_path, app, services)
    try:
        _webhooks(client, 3)
        before = scrape(client)
        assert _counts(before) == {"stored": 3, "queue_unavailable": 0}

        server.stop()  # an outage, and a restart that keeps the data (the append-only file)
        _webhooks(client, 2)  # stored in the database, not queued: kept in this process
        server = redis_embedded.start(str(folder), port=server.port)
        _webhooks(client, 1)
        after_restart = scrape(client)
        assert _counts(after_restart) == {"stored": 4, "queue_unavailable": 2}
        assert _created(after_restart) == _created(before)  # nothing was reset

        server.stop()  # an outage, and a restart with the data lost
        _lose_data(folder)
        _webhooks(client, 5)
        server = redis_embedded.start(str(folder), port=server.port)
        _webhooks(client, 1)
        reset = scrape(client)
        assert _counts(reset) == {"stored": 1, "queue_unavailable": 5}  # all since the reset
        assert min(_created(reset)) > max(_created(before))  # ...and it says it was reset
        duration = "ledgerbot_webhook_duration_seconds_count"
        assert value(reset, duration, outcome="queue_unavailable") == 5

        # OpenMetrics (what Prometheus asks for): _created belongs to the counter itself.
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
        text = client.get("/metrics", headers=accept).get_data(as_text=True)
        [family] = [f for f in openmetrics_families(text) if f.name == "ledgerbot_webhooks"]
        stamps = {s.labels["outcome"]: s.value for s in family.samples if "_created" in s.name}
        assert stamps["stored"] == _created(reset)[0]
    finally:
        flaky.close()
        server.stop()
        install(services)


def test_kept_increments_are_written_when_redis_is_back_without_another_recording(
    tmp_path, app, client, services
):
    """The process that counted them gets no more webhooks (another answers the scrapes):
    its flusher writes them anyway."""
    folder, server, flaky = _flaky_redis(tmp_path, app, services)
    try:
        server.stop()
        _webhooks(client, 4)
        server = redis_embedded.start(str(folder), port=server.port)
        reader = redis_lib.Redis.from_url(server.url)
        key = metrics.redis_key(flaky, metrics.WEBHOOKS_PART)
        deadline = time.monotonic() + metrics.RETRY_AFTER_S + 3 * metrics.FLUSH_EVERY_S
        while time.monotonic() < deadline and reader.hget(key, "queue_unavailable") is None:
            time.sleep(0.1)
        assert reader.hget(key, "queue_unavailable") == b"4"
        reader.close()
    finally:
        flaky.close()
        server.stop()
        install(services)


def test_a_refused_increment_neither_blocks_nor_doubles_the_others(tmp_path, app, client, services):
    folder, server, flaky = _flaky_redis(tmp_path, app, services)
    reader = redis_lib.Redis.from_url(server.url)
    webhooks = metrics.redis_key(flaky, metrics.WEBHOOKS_PART)
    jobs = metrics.redis_key(flaky, metrics.JOB_DURATION.part)
    try:
        metrics.observe_job(flaky, "send_outbound", math.inf)  # HINCRBYFLOAT refuses inf
        _webhooks(client, 1)
        metrics.flush(flaky)  # as a scrape does: recordings within COALESCE_S share a write
        assert reader.hget(webhooks, "stored") == b"1"  # not stuck behind the refused one
        assert reader.hget(jobs, "send_outbound|le|+Inf") == b"1"  # counted, not summed

        server.stop()
        reader.close()
        metrics.observe_job(flaky, "send_outbound", 0.2)
        _webhooks(client, 2)  # one batch kept: job and webhook increments together
        server = redis_embedded.start(str(folder), port=server.port)
        reader = redis_lib.Redis.from_url(server.url)
        reader.delete(jobs)
        reader.set(jobs, "not a hash")  # every job increment of the batch is refused
        for _ in range(3):
            metrics.flush(flaky)
        assert reader.hget(webhooks, "queue_unavailable") == b"2"  # applied once, not again
    finally:
        reader.close()
        flaky.close()
        server.stop()
        install(services)
