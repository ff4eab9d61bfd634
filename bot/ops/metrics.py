"""Prometheus metrics, shared by every web and worker process through Redis.

Counters and the job-duration histogram are fields of two Redis hashes (``HINCRBY``), so
any number of gunicorn processes and workers add to the same numbers; gauges are computed
when ``GET /metrics`` is scraped, from the database and Redis. Recording is one pipelined
round trip and never fails the request or job it measures: when Redis is unreachable the
increments wait in this process and are added with the next one that gets through (so an
outage still shows up in ``ledgerbot_webhooks_total{outcome="queue_unavailable"}``).

The exposition is the Prometheus text format 0.0.4, written by hand.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import func, select

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_OUTCOMES = (
    "stored",
    "duplicate",
    "bad_signature",
    "bad_request",
    "db_unavailable",
    "queue_unavailable",
    "error",
)
JOBS = ("process_inbound", "send_outbound")
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
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
RETRY_AFTER_S = 5.0  # after a failed write, don't try Redis again from this process for a bit
MAX_PENDING_FIELDS = 500


def key_prefix(services) -> str:
    return f"ledgerbot:metrics:{services.settings.queue_name}"


def webhooks_key(services) -> str:
    return key_prefix(services) + ":webhooks"


def jobs_key(services) -> str:
    return key_prefix(services) + ":jobs"


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


# --------------------------------------------------------------------------- recording


class _Target:
    """Increments not yet written to one Redis server, and when to try it again."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], float] = {}
        self.retry_at = 0.0


_targets: dict[tuple, _Target] = {}
_lock = threading.Lock()


def _target_id(conn: redis.Redis) -> tuple:
    kwargs = conn.connection_pool.connection_kwargs
    return (kwargs.get("host"), kwargs.get("port"), kwargs.get("db"), kwargs.get("path"))


def _add(conn: redis.Redis, increments: dict[tuple[str, str], float]) -> None:
    """Add ``{(key, field): amount}`` in one round trip, or keep it for later; never raises."""
    try:
        target_id = _target_id(conn)
    except Exception:
        return
    with _lock:
        target = _targets.setdefault(target_id, _Target())
        batch, target.pending = target.pending, {}
        for item, amount in increments.items():
            batch[item] = batch.get(item, 0) + amount
        waiting = time.monotonic() < target.retry_at
        if waiting:
            target.pending = batch
            return
    try:
        pipe = conn.pipeline(transaction=True)  # all or nothing, so a retry never counts twice
        for (key, field), amount in batch.items():
            if isinstance(amount, int):
                pipe.hincrby(key, field, amount)
            else:
                pipe.hincrbyfloat(key, field, amount)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        with _lock:
            for item, amount in batch.items():
                if item in target.pending or len(target.pending) < MAX_PENDING_FIELDS:
                    target.pending[item] = target.pending.get(item, 0) + amount
            target.retry_at = time.monotonic() + RETRY_AFTER_S
        log.debug("metrics not recorded yet (%s)", exc)
    except Exception:  # metrics must never break what they measure
        log.exception("metrics not recorded")


def redis_failed(services) -> None:
    """The caller just saw Redis fail: skip it for a while instead of waiting on it again."""
    try:
        target_id = _target_id(services.redis)
    except Exception:
        return
    with _lock:
        target = _targets.setdefault(target_id, _Target())
        target.retry_at = time.monotonic() + RETRY_AFTER_S


def count_webhook(services, outcome: str) -> None:
    try:
        conn = services.redis
    except Exception:
        return
    _add(conn, {(webhooks_key(services), outcome): 1})


def observe_job(services, job: str, seconds: float) -> None:
    try:
        conn = services.redis
    except Exception:
        return
    # Buckets are stored per interval (one field per observation) and made cumulative on scrape.
    bound = next((b for b in BUCKETS if seconds <= b), math.inf)
    key = jobs_key(services)
    _add(
        conn,
        {
            (key, f"{job}|le|{bucket_label(bound)}"): 1,
            (key, f"{job}|sum"): float(seconds),
            (key, f"{job}|count"): 1,
        },
    )


@contextlib.contextmanager
def job_timer(job: str, services_getter: Callable[[], Any]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        try:
            observe_job(services_getter(), job, elapsed)
        except Exception:
            log.exception("job duration not recorded")


# --------------------------------------------------------------------------- exposition


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float | int, **labels: str) -> None:
        if labels:
            body = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            name = f"{name}{{{body}}}"
        self.lines.append(f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _decode(mapping: dict) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in mapping.items()
    }


def _redis_part(services, out: Exposition) -> None:
    from rq.registry import (
        DeferredJobRegistry,
        FailedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    queue = services.queue
    registries = {
        "scheduled": ScheduledJobRegistry(queue=queue),
        "failed": FailedJobRegistry(queue=queue),
        "started": StartedJobRegistry(queue=queue),
        "deferred": DeferredJobRegistry(queue=queue),
    }
    pipe = services.redis.pipeline(transaction=False)
    pipe.hgetall(webhooks_key(services))
    pipe.hgetall(jobs_key(services))
    pipe.llen(queue.key)
    for registry in registries.values():
        pipe.zcard(registry.key)  # no cleanup: a scrape must not change anything
    webhooks, jobs, queued, *registry_counts = pipe.execute()
    webhooks, jobs = _decode(webhooks), _decode(jobs)

    out.family(
        "ledgerbot_webhooks_total", "counter", "Inbound message webhooks answered, by outcome."
    )
    for outcome in sorted(set(WEBHOOK_OUTCOMES) | set(webhooks)):
        out.sample("ledgerbot_webhooks_total", int(webhooks.get(outcome, 0)), outcome=outcome)

    out.family(
        "ledgerbot_queue_depth",
        "gauge",
        "Jobs in the RQ queue (state=queued) and in its registries (scheduled, failed, ...).",
    )
    out.sample("ledgerbot_queue_depth", int(queued), queue=queue.name, state="queued")
    for state, value in zip(registries, registry_counts, strict=True):
        out.sample("ledgerbot_queue_depth", int(value), queue=queue.name, state=state)

    names = set(JOBS) | {field.split("|", 1)[0] for field in jobs}
    out.family(
        "ledgerbot_job_duration_seconds", "histogram", "Time spent running each kind of job."
    )
    for job in sorted(names):
        cumulative = 0
        for bound in (*BUCKETS, math.inf):
            label = bucket_label(bound)
            cumulative += int(jobs.get(f"{job}|le|{label}", 0))
            out.sample("ledgerbot_job_duration_seconds_bucket", cumulative, job=job, le=label)
        out.sample("ledgerbot_job_duration_seconds_sum", float(jobs.get(f"{job}|sum", 0)), job=job)
        out.sample(
            "ledgerbot_job_duration_seconds_count", int(jobs.get(f"{job}|count", 0)), job=job
        )


def _age_seconds(then: datetime | None, now: datetime) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite keeps no zone; everything stored is UTC
        then = then.replace(tzinfo=UTC)
    return max((now - then).total_seconds(), 0.0)


def _database_part(services, out: Exposition) -> None:
    from bot.messaging.models import InboundMessage, OutboundMessage
    from ledger.models import Evidence, LedgerHead

    now = datetime.now(UTC)
    with services.read_sessions() as session:
        outbound = dict(
            session.execute(
                select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
            ).all()
        )
        inbound = dict(
            session.execute(
                select(InboundMessage.status, func.count()).group_by(InboundMessage.status)
            ).all()
        )
        head_seq = session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0
        pending, oldest = session.execute(
            select(func.count(), func.min(Evidence.created_at)).where(Evidence.status == "pending")
        ).one()

    out.family("ledgerbot_outbound_messages", "gauge", "Outbound messages by status.")
    for status in sorted(set(OUTBOUND_STATUSES) | set(outbound)):
        out.sample("ledgerbot_outbound_messages", outbound.get(status, 0), status=status)
    out.family("ledgerbot_inbound_messages", "gauge", "Inbound messages by status.")
    for status in sorted(set(INBOUND_STATUSES) | set(inbound)):
        out.sample("ledgerbot_inbound_messages", inbound.get(status, 0), status=status)
    out.family("ledgerbot_ledger_head_seq", "gauge", "Sequence number of the newest ledger entry.")
    out.sample("ledgerbot_ledger_head_seq", int(head_seq))
    out.family("ledgerbot_pending_evidence", "gauge", "Evidence items waiting for a moderator.")
    out.sample("ledgerbot_pending_evidence", int(pending or 0))
    out.family(
        "ledgerbot_pending_evidence_oldest_age_seconds",
        "gauge",
        "Age of the oldest evidence item waiting for a moderator (0 when none waits).",
    )
    out.sample("ledgerbot_pending_evidence_oldest_age_seconds", _age_seconds(oldest, now))


def render(services) -> str:
    """The whole exposition; a part that fails is left out and flagged, never raised."""
    out = Exposition()
    errors: dict[str, int] = {}
    for part, produce in (("redis", _redis_part), ("database", _database_part)):
        partial = Exposition()
        try:
            produce(services, partial)
        except Exception as exc:
            log.warning("metrics: %s part failed (%s)", part, type(exc).__name__)
            errors[part] = 1
        else:
            errors[part] = 0
            out.lines.extend(partial.lines)
    out.family("ledgerbot_scrape_error", "gauge", "1 when a part of this scrape could not be read.")
    for part, value in errors.items():
        out.sample("ledgerbot_scrape_error", value, part=part)
    return out.text()
