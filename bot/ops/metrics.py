"""Prometheus metrics, recorded in Redis so every web and worker process shares one set.

Counters and histograms are fields of Redis hashes (``HINCRBY``) under this deployment's
prefix (``Settings.redis_key("metrics", ...)``), so any number of gunicorn processes and
workers, on any number of machines, add to the same numbers, and two deployments sharing one
Redis never mix theirs. Recording is one pipelined round trip and never fails the request or
job it measures: when Redis is unreachable the increments wait in this process and are added
with the next write that gets through (so an outage still shows up in
``ledgerbot_webhooks_total{outcome="queue_unavailable"}``). ``bot.web.metrics`` reads them
back, with the gauges, through a prometheus_client collector.

Why not prometheus_client's own metrics in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)?
Measured on the 2-core dev machine (shared, load 2-4), 5 rounds of 10,000 webhook recordings
(outcome counter + duration histogram): multiprocess mode costs 4.5 µs of CPU per recording
(an mmap'd file write); this one Redis round trip (MULTI + 3 HINCRBY[FLOAT]) 70-80 µs of CPU
in the web process (105-180 µs wall) plus 15-25 µs in redis-server. Through the whole app, a
signed webhook on SQLite took 1,753 µs of CPU without metrics, 1,840 µs with them (+5 %);
multiprocess mode was within the noise. We pay that 5 % for what multiprocess mode cannot
do: one set of numbers across machines (it only sums processes sharing one directory on one
host), no directory to wipe before each start and no gunicorn ``child_exit`` hook, counts
that survive restarts. (One Lua script doing the same increments measured ~20 µs less CPU
than the MULTI, if that ever matters.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

log = logging.getLogger(__name__)

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
# A webhook is a signature check, one INSERT and one enqueue: milliseconds, not seconds.
WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RETRY_AFTER_S = 5.0  # after a failed write, don't try Redis again from this process for a bit
MAX_PENDING_FIELDS = 500


@dataclass(frozen=True)
class HistogramSpec:
    """One histogram with one label, kept in one Redis hash (``part``)."""

    name: str
    help: str
    label: str
    values: tuple[str, ...]  # always exposed, at zero until seen
    buckets: tuple[float, ...]
    part: str


JOB_DURATION = HistogramSpec(
    "ledgerbot_job_duration_seconds",
    "Time spent running each kind of job.",
    "job",
    JOBS,
    BUCKETS,
    "jobs",
)
WEBHOOK_DURATION = HistogramSpec(
    "ledgerbot_webhook_duration_seconds",
    "Time spent answering each inbound message webhook, by outcome.",
    "outcome",
    WEBHOOK_OUTCOMES,
    WEBHOOK_BUCKETS,
    "webhook_durations",
)
WEBHOOKS_PART = "webhooks"  # the outcome counter: one field per outcome


def redis_key(services, part: str) -> str:
    return services.settings.redis_key("metrics", part)


def bucket_label(bound: float) -> str:
    """``le`` as prometheus_client's own histograms write it (``0.01``, ``1.0``, ``+Inf``)."""
    return floatToGoString(bound)


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


def _observation(services, spec: HistogramSpec, value: str, seconds: float) -> dict:
    """The fields one observation adds to. Buckets are stored per interval (one field per
    observation rather than one per bound above it) and made cumulative on scrape."""
    bound = next((b for b in spec.buckets if seconds <= b), math.inf)
    key = redis_key(services, spec.part)
    return {
        (key, f"{value}|le|{bucket_label(bound)}"): 1,
        (key, f"{value}|sum"): float(seconds),
    }  # no count field: the +Inf bucket is the count


def record_webhook(services, outcome: str, seconds: float | None) -> None:
    """Count one inbound webhook and observe how long it took, in one Redis round trip.

    ``seconds`` is None only when no timer was started for the request: then only the
    counter moves, rather than the histogram getting a made-up duration."""
    try:
        conn = services.redis
        increments = {(redis_key(services, WEBHOOKS_PART), outcome): 1}
        if seconds is not None:
            increments.update(_observation(services, WEBHOOK_DURATION, outcome, seconds))
    except Exception:
        log.exception("webhook not counted")
        return
    _add(conn, increments)


def observe_job(services, job: str, seconds: float) -> None:
    try:
        conn = services.redis
        increments = _observation(services, JOB_DURATION, job, seconds)
    except Exception:
        log.exception("job duration not recorded")
        return
    _add(conn, increments)


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


# --------------------------------------------------------------------------- reading back


def decode(mapping: dict) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in mapping.items()
    }


def histogram_family(spec: HistogramSpec, fields: dict[str, str]) -> HistogramMetricFamily:
    """The histogram from its Redis hash (as :func:`_observation` writes it), cumulative."""
    family = HistogramMetricFamily(spec.name, spec.help, labels=[spec.label])
    seen = {name.split("|", 1)[0] for name in fields}
    for value in sorted(set(spec.values) | seen):
        cumulative, buckets = 0, []
        for bound in (*spec.buckets, math.inf):
            label = bucket_label(bound)
            cumulative += int(fields.get(f"{value}|le|{label}", 0))
            buckets.append((label, cumulative))
        family.add_metric([value], buckets, float(fields.get(f"{value}|sum", 0)))
    return family
