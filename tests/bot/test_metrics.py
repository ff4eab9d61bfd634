"""GET /metrics: counters and histograms shared through Redis (per deployment), gauges read at
scrape time, and a scrape that still answers when Redis or the database is down."""

from __future__ import annotations

import math
import re

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.ops import metrics, redis_embedded
from bot.ops.services import Services, install
from bot.web import metrics as web_metrics
from bot.web.app import create_app
from ledger.models import LedgerHead
from tests.support.messaging import drain, inbound_params, post_signed
from tests.test_helpers import load_demo

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
UNESCAPE = re.compile(r"\\(.)")


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """A strict little parser for the text format (0.0.4; prometheus_client now labels it
    version=1.0.0, the same lines for names like ours): every sample belongs to a declared
    family, labels are well-formed and unique, values are numbers. Label values come back
    unescaped, as prometheus_client's parser gives them."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        assert line, "no blank lines"
        if line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in TYPES and name not in types
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        match = SAMPLE.match(line)
        assert match, line
        name, raw_labels, raw_value = match.groups()
        family = name
        if name not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert types.get(family) == "histogram", f"{name} has no TYPE"
        labels = {}
        if raw_labels:
            consumed = 0
            for label in LABEL.finditer(raw_labels):
                assert label.start() == consumed, line
                assert label.group(1) not in labels
                unescaped = UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], label.group(2))
                labels[label.group(1)] = unescaped
                consumed = label.end()
            assert consumed == len(raw_labels), line
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"duplicate series {line}"
        samples[key] = float(raw_value)
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def official(text: str) -> dict[tuple[str, frozenset], float]:
    """The same samples as prometheus_client's own parser reads them."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = response.get_data(as_text=True)
    samples = parse(text)
    assert official(text) == samples
    return samples


def test_counters_histogram_and_gauges_after_webhooks_and_a_drain(client, services, twilio):
    load_demo(services)
    asker, contributor = "+15551234567", "+15557654321"
    question = inbound_params(asker, "semax|does it raise BDNF in people?")
    assert post_signed(client, question).status_code == 200
    assert post_signed(client, question).status_code == 200  # Twilio's retry: a duplicate
    assert post_signed(client, inbound_params(contributor, "HELP")).status_code == 200
    unsigned = client.post("/twilio/messages", data=inbound_params(asker, "HELP"))
    assert unsigned.status_code == 403
    malformed = dict(inbound_params(asker, "HELP"), From="not-a-number")
    assert post_signed(client, malformed).status_code == 400
    drain(services)
    ingest = inbound_params(asker, "ingest semax|q:1|PMID 16635254 rats given Semax")
    assert post_signed(client, ingest).status_code == 200
    drain(services)
    twilio.wait_for(count=4)  # three replies and the moderator's alert

    samples = scrape(client)
    webhooks = {
        outcome: value(samples, "ledgerbot_webhooks_total", outcome=outcome)
        for outcome in metrics.WEBHOOK_OUTCOMES
    }
    assert webhooks == {
        "stored": 3,
        "duplicate": 1,
        "bad_signature": 1,
        "bad_request": 1,
        "db_unavailable": 0,
        "queue_unavailable": 0,
        "error": 0,
    }

    # Three messages, the first two queued together: the first's job took the second along
    # (bot.worker.take_along), so two inbound jobs ran and three messages were handled.
    assert value(samples, "ledgerbot_inbound_handled_total") == 3
    # Replies go out from the inbound job; the alert to the moderator is a send job.
    for job, runs in (("process_inbound", 2), ("send_outbound", 1)):
        assert value(samples, "ledgerbot_job_duration_seconds_count", job=job) == runs
        assert value(samples, "ledgerbot_job_duration_seconds_sum", job=job) > 0
        buckets = [
            value(samples, "ledgerbot_job_duration_seconds_bucket", job=job, le=le)
            for le in [metrics.bucket_label(b) for b in metrics.BUCKETS] + ["+Inf"]
        ]
        assert buckets == sorted(buckets) and buckets[-1] == runs

    queue = services.settings.queue_name
    for state in ("queued", "scheduled", "failed", "started", "deferred"):
        assert value(samples, "ledgerbot_queue_depth", queue=queue, state=state) == 0

    with services.sessions() as session:
        by_status = dict(
            session.execute(
                select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
            ).all()
        )
        head_seq = session.scalar(select(LedgerHead.seq))
    assert by_status == {"queued": 4}  # what the Twilio stand-in answered
    for status in web_metrics.OUTBOUND_STATUSES:
        expected = by_status.get(status, 0)
        assert value(samples, "ledgerbot_outbound_messages", status=status) == expected
    assert value(samples, "ledgerbot_inbound_messages", status="done") == 3
    assert value(samples, "ledgerbot_inbound_messages", status="received") == 0
    assert value(samples, "ledgerbot_ledger_head_seq") == head_seq > 0
    assert value(samples, "ledgerbot_pending_evidence") == 1
    age = value(samples, "ledgerbot_pending_evidence_oldest_age_seconds")
    assert 0 <= age < 300
    assert value(samples, "ledgerbot_scrape_error", part="redis") == 0
    assert value(samples, "ledgerbot_scrape_error", part="database") == 0


def test_counters_are_shared_by_every_process_through_redis(services, client):
    """A second app (another gunicorn process) sees the first one's counts."""
    post_signed(client, inbound_params("+15551234567", "HELP"))
    other = create_app(services=Services(services.settings, engine=services.engine))
    try:
        samples = scrape(other.test_client())
        assert value(samples, "ledgerbot_webhooks_total", outcome="stored") == 1
    finally:
        other.extensions["ledgerbot"].close()
        install(services)


def test_scrape_and_webhooks_survive_redis_down(tmp_path, app, client, services, monkeypatch):
    monkeypatch.setattr(metrics, "RETRY_AFTER_S", 0.0)
    folder = str(tmp_path / "flaky-redis")
    server = redis_embedded.start(folder)
    flaky = Services(
        services.settings.__class__(**{**vars(services.settings), "redis_url": server.url}),
        engine=services.engine,
    )
    app.extensions["ledgerbot"] = install(flaky)
    server.stop()
    try:
        params = inbound_params("+15551234567", "HELP")
        assert post_signed(client, params).status_code == 200  # stored, not queued
        metrics.observe_job(flaky, "process_inbound", 0.2)  # a worker's job, Redis down

        samples = scrape(client)
        assert value(samples, "ledgerbot_scrape_error", part="redis") == 1
        assert value(samples, "ledgerbot_scrape_error", part="database") == 0
        assert value(samples, "ledgerbot_inbound_messages", status="received") == 1
        assert not any(name.startswith("ledgerbot_webhook") for name, _ in samples)
        assert not any(name.startswith("ledgerbot_queue_depth") for name, _ in samples)

        # Redis comes back: the increments kept while it was down are added with the next one.
        server = redis_embedded.start(folder, port=server.port)
        assert post_signed(client, inbound_params("+15551234567", "HELP")).status_code == 200
        samples = scrape(client)
        assert value(samples, "ledgerbot_scrape_error", part="redis") == 0
        assert value(samples, "ledgerbot_webhooks_total", outcome="queue_unavailable") == 1
        assert value(samples, "ledgerbot_webhooks_total", outcome="stored") == 1
        assert value(samples, "ledgerbot_job_duration_seconds_count", job="process_inbound") == 1
        duration = "ledgerbot_webhook_duration_seconds_count"
        assert value(samples, duration, outcome="queue_unavailable") == 1
        assert value(samples, duration, outcome="stored") == 1
    finally:
        flaky.close()
        server.stop()
        install(services)


def test_scrape_survives_database_down(services, redis_url):
    settings = services.settings.__class__(
        **{**vars(services.settings), "database_url": "postgresql://nobody@127.0.0.1:1/none"}
    )
    down = Services(settings)
    try:
        app = create_app(services=down)
        samples = scrape(app.test_client())
        assert value(samples, "ledgerbot_scrape_error", part="database") == 1
        assert value(samples, "ledgerbot_scrape_error", part="redis") == 0
        assert not any(name.startswith("ledgerbot_outbound") for name, _ in samples)
        queue = settings.queue_name
        assert value(samples, "ledgerbot_queue_depth", queue=queue, state="queued") == 0
    finally:
        down.close()
        install(services)


def test_db_unavailable_webhook_is_counted(services, redis_url):
    settings = services.settings.__class__(
        **{**vars(services.settings), "database_url": "postgresql://nobody@127.0.0.1:1/none"}
    )
    down = Services(settings)
    try:
        client = create_app(services=down).test_client()
        response = post_signed(client, inbound_params("+15551234567", "HELP"))
        assert response.status_code == 503
        samples = scrape(client)
        assert value(samples, "ledgerbot_webhooks_total", outcome="db_unavailable") == 1
        count = "ledgerbot_webhook_duration_seconds_count"
        assert value(samples, count, outcome="db_unavailable") == 1
    finally:
        down.close()
        install(services)


def test_recording_never_raises_when_redis_is_unreachable(services):
    dead = Services(
        services.settings.__class__(
            **{**vars(services.settings), "redis_url": "redis://127.0.0.1:1/0"}
        )
    )
    try:
        metrics.record_webhook(dead, "stored", 0.002)
        metrics.record_webhook(dead, "stored", None)
        metrics.observe_job(dead, "send_outbound", 1.5)
        metrics.observe_job(dead, "send_outbound", math.inf)
    finally:
        dead.close()


def test_label_values_are_escaped(client, services):
    """A status read from the database is a label value: quotes, backslashes and newlines in it
    are escaped in the text and read back intact by both parsers."""
    assert post_signed(client, inbound_params("+15551234567", "HELP")).status_code == 200
    odd = 'a "q"\\ b\nc'
    with services.sessions.begin() as session:
        session.execute(update(InboundMessage).values(status=odd))
    response = client.get("/metrics")
    assert 'ledgerbot_inbound_messages{status="a \\"q\\"\\\\ b\\nc"} 1.0' in response.get_data(
        as_text=True
    )
    samples = scrape(client)
    assert value(samples, "ledgerbot_inbound_messages", status=odd) == 1


def test_webhook_duration_histogram_counts_every_webhook_by_outcome(client, services):
    stored = [inbound_params("+15551234567", f"HELP {n}") for n in range(5)]
    for params in stored:
        assert post_signed(client, params).status_code == 200
    assert post_signed(client, stored[0]).status_code == 200  # a duplicate
    assert client.post("/twilio/messages", data=stored[1]).status_code == 403
    assert post_signed(client, inbound_params("+1555", "HELP")).status_code == 400
    assert client.get("/twilio/nowhere").status_code == 404  # not a webhook: not observed

    samples = scrape(client)
    expected = {"stored": 5, "duplicate": 1, "bad_signature": 1, "bad_request": 1}
    name = "ledgerbot_webhook_duration_seconds"
    les = [metrics.bucket_label(b) for b in metrics.WEBHOOK_BUCKETS] + ["+Inf"]
    assert les[:2] == ["0.001", "0.0025"] and les[-2:] == ["1.0", "+Inf"]  # milliseconds
    for outcome in metrics.WEBHOOK_OUTCOMES:
        n = expected.get(outcome, 0)
        buckets = [value(samples, name + "_bucket", outcome=outcome, le=le) for le in les]
        series = [
            key for key in samples if key[0] == name + "_bucket" and ("outcome", outcome) in key[1]
        ]
        assert len(series) == len(les)  # no other buckets
        assert buckets == sorted(buckets) and buckets[-1] == n, (outcome, buckets)
        assert value(samples, name + "_count", outcome=outcome) == n
        assert n == value(samples, "ledgerbot_webhooks_total", outcome=outcome)
        total = value(samples, name + "_sum", outcome=outcome)
        assert (total > 0) == (n > 0) and total < n * 1.0 + 1e-9, (outcome, total)


def test_deployments_sharing_one_redis_do_not_see_each_others_counts(services, redis_conn):
    """Two QUEUE_NAMEs on one Redis: each scrape shows only its own deployment's numbers."""
    other = Services(
        services.settings.__class__(**{**vars(services.settings), "queue_name": "ledgerbot-b"}),
        engine=services.engine,
    )
    apps = {"a": create_app(services=services), "b": create_app(services=other)}
    try:
        for name, count in (("a", 3), ("b", 1)):
            for _ in range(count):
                params = inbound_params("+15551234567", "HELP")
                assert post_signed(apps[name].test_client(), params).status_code == 200
        metrics.observe_job(services, "process_inbound", 0.2)

        a, b = (scrape(apps[name].test_client()) for name in "ab")
        assert value(a, "ledgerbot_webhooks_total", outcome="stored") == 3
        assert value(b, "ledgerbot_webhooks_total", outcome="stored") == 1
        assert value(a, "ledgerbot_webhook_duration_seconds_count", outcome="stored") == 3
        assert value(b, "ledgerbot_webhook_duration_seconds_count", outcome="stored") == 1
        assert value(a, "ledgerbot_job_duration_seconds_count", job="process_inbound") == 1
        assert value(b, "ledgerbot_job_duration_seconds_count", job="process_inbound") == 0
        assert value(a, "ledgerbot_queue_depth", queue="ledgerbot-test", state="queued") == 3
        assert value(b, "ledgerbot_queue_depth", queue="ledgerbot-b", state="queued") == 1

        keys = sorted(key.decode() for key in redis_conn.scan_iter("*metrics*"))
        assert keys == [
            "ledgerbot:ledgerbot-b:metrics:webhook_durations",
            "ledgerbot:ledgerbot-b:metrics:webhooks",
            "ledgerbot:ledgerbot-test:metrics:jobs",
            "ledgerbot:ledgerbot-test:metrics:webhook_durations",
            "ledgerbot:ledgerbot-test:metrics:webhooks",
        ]
    finally:
        other.close()
        install(services)
