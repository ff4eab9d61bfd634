"""Prometheus metrics, recorded in Redis so every web and worker process shares one set.

Counters and histograms are fields of Redis hashes (``HINCRBY``) under this deployment's
prefix (``Settings.redis_key("metrics", ...)``): any number of gunicorn processes and workers,
on any number of machines, add to the same numbers, and deployments sharing one Redis never
mix theirs. Recording is one pipelined round trip and never fails what it measures.
``bot.web.metrics`` reads them back, with the gauges, through a prometheus_client collector.

*No count lost without the metric saying so.*

- Redis unreachable: increments wait in this process (at most MAX_PENDING_FIELDS fields; the
  specs below make ~120) and a flusher thread writes them once Redis answers. They used to
  wait for this process's next recording, which may never come (a gunicorn process that got
  no more webhooks): 209 ``queue_unavailable`` webhooks showed 0. A scrape writes its own
  process's first, an exiting process tries once more; only a process killed while Redis is
  still down loses what it kept.
- Redis restarted empty, or its data lost: each hash carries its creation time (field
  ``_created``, HSETNX'd in the MULTI of every write, so it goes with the hash and the next
  write stamps a new one), exposed as the ``_created`` of each counter and histogram. The
  numbers restart from zero with a later ``_created`` — a counter reset the Prometheus way,
  as when a prometheus_client process restarts — and what was kept during the outage lands
  after it.
- Redis refusing a command (HINCRBYFLOAT takes no inf): the batch used to be kept and retried
  forever and, Redis applying the rest of a MULTI, counted again at every retry. Refused
  commands are now logged and dropped, the applied ones never re-sent, and a non-finite
  duration is counted but not summed.

Rejected: per-process totals SET into per-process hashes (a flush repaired by each live
process's next push): nobody pushes for processes that have exited (each gunicorn recycle,
each deploy), so after a flush the sum loses their share while the live ones' whole history
returns — an undercount, or a reset then a spike. The database cannot count
``db_unavailable``. prometheus_client's multiprocess mode (4.5 µs of CPU per recording
against this round trip's 70-80 µs, +5 % of a webhook; 2-core dev machine) sums only the
processes of one host and loses counts with restarts. The stamps cost ~12 µs of CPU per
recording (min of 16 rounds of 5,000: 59.5 → 72.1 µs; 0.2 µs per HSETNX in redis-server),
+0.7 % of a webhook's ~1,840 µs. (A Lua script instead of the MULTI saved ~20 µs.)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
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
JOBS = ("process_inbound", "send_outbound", "delete_twilio_media")
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A webhook is a signature check, one INSERT and one enqueue: milliseconds, not seconds.
WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RETRY_AFTER_S = 5.0  # after a failed write, don't try Redis again from this process for a bit
FLUSH_EVERY_S = 1.0  # how often kept increments are tried again without waiting for a write
# A busy process writes its increments at most every COALESCE_S (one MULTI for many webhooks
# or jobs; the flusher writes the rest); a quiet one writes at once. The round trip per
# recording was 12% of a webhook's CPU in the webhook stage's profile.
COALESCE_S = 0.25
MAX_PENDING_FIELDS = 500  # far above what the specs below can produce (~120 fields)
CREATED = "_created"  # the field of each hash saying when it was created (unix time)


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
MESSAGES_PART = "messages"  # inbound messages the worker handled: one field, "handled"


def redis_key(services, part: str) -> str:
    return services.settings.redis_key("metrics", part)


def bucket_label(bound: float) -> str:
    """``le`` as prometheus_client's own histograms write it (``0.01``, ``1.0``, ``+Inf``)."""
    return floatToGoString(bound)


# --------------------------------------------------------------------------- recording


class _Target:
    """Increments not yet written to one Redis server, and when to try it again."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn
        self.pending: dict[tuple[str, str], float] = {}
        self.retry_at = 0.0
        self.written_at = -math.inf


_targets: dict[tuple, _Target] = {}
_lock = threading.Lock()
_flusher_pid: int | None = None


def _target_id(conn: redis.Redis) -> tuple:
    """One Redis server and database. The password is part of it so that increments kept for
    a server that is gone never land in another one started later on the same port."""
    kwargs = conn.connection_pool.connection_kwargs
    return tuple(kwargs.get(key) for key in ("host", "port", "db", "path", "password"))


def _add(
    conn: redis.Redis,
    increments: dict[tuple[str, str], float],
    force: bool = False,
    coalesce: bool = False,
) -> bool | None:
    """Add ``{(key, field): amount}`` in one round trip, or keep it for later; never raises.

    True when written (with everything kept from before), False when kept, None when there
    was nothing to write or Redis was not tried (a recent failure, unless ``force``; or, with
    ``coalesce``, a write less than COALESCE_S ago: the flusher writes it within a second)."""
    try:
        target_id = _target_id(conn)
    except Exception:
        log.exception("metrics not recorded")
        return None
    with _lock:
        target = _targets.setdefault(target_id, _Target(conn))
        target.conn = conn
        batch, target.pending = target.pending, {}
        for item, amount in increments.items():
            batch[item] = batch.get(item, 0) + amount
        now = time.monotonic()
        wait = now < target.retry_at or (coalesce and now - target.written_at < COALESCE_S)
        if not batch or (not force and wait):
            if batch:
                target.pending = batch
                _start_flusher()
            return None
        target.written_at = now
    return _write(target, batch)


def _write(target: _Target, batch: dict[tuple[str, str], float]) -> bool:
    try:
        # MULTI: a batch whose EXEC never reached Redis is kept and counted once (one whose
        # answer was lost would count twice: rare, and never a loss). HSETNX: a new hash's
        # creation time.
        pipe = target.conn.pipeline(transaction=True)
        created = repr(time.time())
        for key in sorted({key for key, _ in batch}):
            pipe.hsetnx(key, CREATED, created)
        for (key, field), amount in batch.items():
            if isinstance(amount, int):
                pipe.hincrby(key, field, amount)
            else:
                pipe.hincrbyfloat(key, field, amount)
        results = pipe.execute(raise_on_error=False)
    except (redis.RedisError, OSError) as exc:
        # Unreachable, or the whole MULTI refused (OOM; READONLY in a failover; never for
        # its form, ours is fixed): none of it was applied, so keep it for later.
        _keep(target, batch)
        log.debug("metrics not recorded yet (%s)", exc)
        return False
    except Exception:  # metrics must never break what they measure
        log.exception("metrics not recorded")
        return True
    # A command refused when run (WRONGTYPE, a bad float) would be refused again; the others
    # were applied, so keeping any of them would count them twice.
    if refused := [r for r in results if isinstance(r, Exception)]:
        log.error(
            "metrics: Redis refused %s of %s commands (%s)", len(refused), len(batch), refused[0]
        )
    return True


def _keep(target: _Target, batch: dict[tuple[str, str], float]) -> None:
    """Put an unwritten batch back (a bounded number of fields), and back off for a while."""
    with _lock:
        dropped = 0
        for item, amount in batch.items():
            if item in target.pending or len(target.pending) < MAX_PENDING_FIELDS:
                target.pending[item] = target.pending.get(item, 0) + amount
            else:
                dropped += 1
        target.retry_at = time.monotonic() + RETRY_AFTER_S
        _start_flusher()
    if dropped:
        log.error("metrics: %s fields over MAX_PENDING_FIELDS dropped", dropped)


def flush(services, force: bool = True) -> bool | None:
    """Write what this process kept for ``services``' Redis: False if Redis failed again."""
    try:
        conn = services.redis
    except Exception:
        return None
    return _add(conn, {}, force=force)


def _flush_all(force: bool = False) -> int:
    """Try every target with something kept; the number of increments still kept after."""
    with _lock:
        targets = [t for t in _targets.values() if t.pending]
    for target in targets:
        _add(target.conn, {}, force=force)
    with _lock:
        return sum(len(t.pending) for t in _targets.values())


def _start_flusher() -> None:
    """Under ``_lock``: one thread per process (a forked child starts its own) that writes
    what was kept without waiting for the next recording, which may never come."""
    global _flusher_pid
    if _flusher_pid != os.getpid():
        _flusher_pid = os.getpid()
        threading.Thread(target=_flush_loop, daemon=True, name="metrics-flush").start()


def _flush_loop() -> None:
    while True:
        time.sleep(FLUSH_EVERY_S)
        try:
            _flush_all()
        except Exception:
            log.exception("metrics flush failed")


@atexit.register
def _flush_at_exit() -> None:
    if _flusher_pid == os.getpid() and (left := _flush_all(force=True)):
        log.warning("metrics: %s fields of increments lost at exit (Redis unreachable)", left)


def redis_failed(services) -> None:
    """The caller just saw Redis fail: skip it for a while instead of waiting on it again."""
    try:
        target_id = _target_id(services.redis)
    except Exception:
        return
    with _lock:
        target = _targets.setdefault(target_id, _Target(services.redis))
        target.retry_at = time.monotonic() + RETRY_AFTER_S


def _observation(services, spec: HistogramSpec, value: str, seconds: float) -> dict:
    """The fields one observation adds to. Buckets are stored per interval (one field per
    observation rather than one per bound above it) and made cumulative on scrape."""
    bound = next((b for b in spec.buckets if seconds <= b), math.inf)
    key = redis_key(services, spec.part)
    fields = {(key, f"{value}|le|{bucket_label(bound)}"): 1}  # no count: the +Inf bucket is
    if math.isfinite(seconds):  # HINCRBYFLOAT refuses inf and nan: counted, not summed
        fields[(key, f"{value}|sum")] = float(seconds)
    return fields


def record_webhook(services, outcome: str, seconds: float | None) -> None:
    """Count one inbound webhook and observe how long it took (one round trip, shared with
    the other recordings of the last COALESCE_S).

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
    _add(conn, increments, coalesce=True)


def count_handled(services, messages: int) -> None:
    """Inbound messages handled by a job: one, or more when it took waiting ones along
    (``bot.worker.take_along``), so job counts are no longer message counts."""
    try:
        key = redis_key(services, MESSAGES_PART)
        _add(services.redis, {(key, "handled"): messages}, coalesce=True)
    except Exception:
        log.exception("handled messages not counted")


def observe_job(services, job: str, seconds: float) -> None:
    try:
        conn = services.redis
        increments = _observation(services, JOB_DURATION, job, seconds)
    except Exception:
        log.exception("job duration not recorded")
        return
    _add(conn, increments, coalesce=True)


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
