"""``GET /metrics``: the Prometheus exposition (counts only: no numbers, no text).

What the processes recorded in Redis (``bot.ops.metrics``) and gauges computed now from the
database and Redis, through one prometheus_client collector on a private registry. A part
that cannot be read is left out and flagged in ``ledgerbot_scrape_error``, never raised, so
the scrape still answers 200 while Redis or the database is down. Every counter and histogram
carries the ``_created`` of its Redis hash: a later one means Redis lost the counts and they
restarted from zero (``bot.ops.metrics``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import redis
from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from sqlalchemy import func, select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.ops import metrics
from bot.ops.services import Services
from bot.ops.services import current as current_services
from ledger.models import Evidence, LedgerHead

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

INBOUND_STATUSES = ("received", "done", "failed")
OUTBOUND_STATUSES = (
    "pending",
    "sending",
    "queued",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "logged",
    "suppressed",
    "not_sent",
    "unknown",
)


def _redis_part(services: Services) -> list[Metric]:
    from rq import registry as rq

    # What this process kept while Redis was away goes in first, so this scrape shows it.
    if metrics.flush(services) is False:
        raise redis.ConnectionError("redis unreachable")  # flagged, without a second wait
    queue = services.queue
    registries = {
        "scheduled": rq.ScheduledJobRegistry(queue=queue),
        "failed": rq.FailedJobRegistry(queue=queue),
        "started": rq.StartedJobRegistry(queue=queue),
        "deferred": rq.DeferredJobRegistry(queue=queue),
    }
    histograms = (metrics.JOB_DURATION, metrics.WEBHOOK_DURATION)
    pipe = services.redis.pipeline(transaction=False)
    for part in (metrics.WEBHOOKS_PART, metrics.MESSAGES_PART, *(s.part for s in histograms)):
        pipe.hgetall(metrics.redis_key(services, part))
    pipe.llen(queue.key)
    for registry in registries.values():
        pipe.zcard(registry.key)  # no cleanup: a scrape must not change anything
    results = pipe.execute()
    webhooks, messages = decode(results[0]), decode(results[1])
    created = _created(webhooks)
    hashes = results[2 : 2 + len(histograms)]
    queued, *registry_counts = results[2 + len(histograms) :]

    # prometheus_client appends ``_total`` to a counter's name: this is ledgerbot_webhooks_total.
    counter = CounterMetricFamily(
        "ledgerbot_webhooks", "Inbound message webhooks answered, by outcome.", labels=["outcome"]
    )
    for outcome in sorted(set(metrics.WEBHOOK_OUTCOMES) | set(webhooks)):
        counter.add_metric([outcome], int(webhooks.get(outcome, 0)), created=created)
    handled = CounterMetricFamily(
        "ledgerbot_inbound_handled",
        "Inbound messages the worker handled (a job may handle several waiting ones).",
    )
    handled.add_metric([], int(float(messages.get("handled", 0))), created=_created(messages))
    depth = GaugeMetricFamily(
        "ledgerbot_queue_depth",
        "Jobs in the RQ queue (state=queued) and in its registries (scheduled, failed, ...).",
        labels=["queue", "state"],
    )
    depth.add_metric([queue.name, "queued"], int(queued))
    for state, value in zip(registries, registry_counts, strict=True):
        depth.add_metric([queue.name, state], int(value))
    return [
        counter,
        handled,
        depth,
        *(
            histogram_family(spec, decode(fields))
            for spec, fields in zip(histograms, hashes, strict=True)
        ),
    ]


def decode(mapping: dict) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in mapping.items()
    }


def _created(fields: dict[str, str]) -> float | None:
    """Take the hash's creation time out of its fields: when its counts started (None until
    the hash is written). A later one than last scrape means Redis lost them: a reset."""
    stamp = fields.pop(metrics.CREATED, None)
    return float(stamp) if stamp else None


def histogram_family(spec: metrics.HistogramSpec, fields: dict[str, str]) -> Metric:
    """The histogram from its Redis hash (as ``metrics._observation`` writes it), cumulative,
    with the hash's ``_created``."""
    family = HistogramMetricFamily(spec.name, spec.help, labels=[spec.label])
    created = _created(fields)
    seen = {name.split("|", 1)[0] for name in fields}
    for value in sorted(set(spec.values) | seen):
        cumulative, buckets = 0, []
        for bound in (*spec.buckets, math.inf):
            label = metrics.bucket_label(bound)
            cumulative += int(fields.get(f"{value}|le|{label}", 0))
            buckets.append((label, cumulative))
        family.add_metric([value], buckets, float(fields.get(f"{value}|sum", 0)))
        if created is not None:  # what prometheus_client's own histograms expose
            family.samples.append(Sample(f"{spec.name}_created", {spec.label: value}, created))
    return family


def _age_seconds(then: datetime | None, now: datetime) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite keeps no zone; everything stored is UTC
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


def _by_status(session, column, name: str, help_text: str, known: tuple[str, ...]) -> Metric:
    counts = dict(session.execute(select(column, func.count()).group_by(column)).all())
    family = GaugeMetricFamily(name, help_text, labels=["status"])
    for status in sorted(set(known) | set(counts)):
        family.add_metric([status], counts.get(status, 0))
    return family


def _database_part(services: Services) -> list[Metric]:
    now = datetime.now(UTC)
    with services.read_sessions() as session:
        outbound = _by_status(
            session,
            OutboundMessage.status,
            "ledgerbot_outbound_messages",
            "Outbound messages by status.",
            OUTBOUND_STATUSES,
        )
        inbound = _by_status(
            session,
            InboundMessage.status,
            "ledgerbot_inbound_messages",
            "Inbound messages by status.",
            INBOUND_STATUSES,
        )
        head_seq = session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0
        pending, oldest = session.execute(
            select(func.count(), func.min(Evidence.created_at)).where(Evidence.status == "pending")
        ).one()
    return [
        outbound,
        inbound,
        GaugeMetricFamily(
            "ledgerbot_ledger_head_seq",
            "Sequence number of the newest ledger entry.",
            value=int(head_seq),
        ),
        GaugeMetricFamily(
            "ledgerbot_pending_evidence",
            "Evidence items waiting for a moderator.",
            value=int(pending or 0),
        ),
        GaugeMetricFamily(
            "ledgerbot_pending_evidence_oldest_age_seconds",
            "Age of the oldest evidence item waiting for a moderator (0 when none waits).",
            value=_age_seconds(oldest, now),
        ),
    ]


class LedgerbotCollector(Collector):
    """Reads everything at scrape time, from the services ``services_getter`` gives then."""

    def __init__(self, services_getter: Callable[[], Services]) -> None:
        self._services = services_getter

    def collect(self) -> Iterable[Metric]:
        services = self._services()
        errors: dict[str, int] = {}
        for part, produce in (("redis", _redis_part), ("database", _database_part)):
            try:
                families = produce(services)
            except Exception as exc:
                log.warning("metrics: %s part failed (%s)", part, type(exc).__name__)
                errors[part] = 1
            else:
                errors[part] = 0
                yield from families
        scrape_error = GaugeMetricFamily(
            "ledgerbot_scrape_error",
            "1 when a part of this scrape could not be read.",
            labels=["part"],
        )
        for part, value in errors.items():
            scrape_error.add_metric([part], value)
        yield scrape_error


def make_registry(services_getter: Callable[[], Services]) -> CollectorRegistry:
    """A private registry: the global default one would add this process's own python_ and
    process_ metrics, which say nothing about the deployment many processes share."""
    registry = CollectorRegistry()
    registry.register(LedgerbotCollector(services_getter))
    return registry


# One per process; the collector asks for the serving app's services at each scrape, so
# several apps in one process (as in the tests) each show their own deployment's numbers.
_registry = make_registry(current_services)


@bp.get("/metrics", endpoint="metrics")  # the endpoint keeps its old name
def serve_metrics():
    """The text format, or OpenMetrics when the scraper asks for it (Prometheus does): there
    ``_created`` belongs to its counter, the way Prometheus tells a reset."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    if not content_type.startswith("application/openmetrics-text"):
        encode, content_type = generate_latest, CONTENT_TYPE_LATEST  # as before, for the rest
    response = Response(encode(_registry), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
