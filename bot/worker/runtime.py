"""Running RQ workers: the worker class, its scheduler (for Retry), the sweeper and a heartbeat.

``SimpleWorker`` runs jobs in the worker process rather than a fork per job: our jobs are
short database transactions, and forking costs more than the job (about 4x the throughput
here). A worker killed mid-job loses only an uncommitted transaction; the sweeper requeues it.

Daemon threads run beside each worker. The *heartbeat* renews the worker's liveness key
every WORKER_BEAT_S (1 s; it expires WORKER_TTL_S, 5 s, after the last renewal): a
SimpleWorker sends RQ no heartbeat while it runs a job, so without this a job "started" by a
dead worker looks like one still running until STALE_STARTED (90 s). The *sweeper* runs
every SWEEP_INTERVAL_S under a Redis lock, so once per interval per deployment however many
workers there are. A third, once at start, builds every article's answer index
(``bot.catalogue.answers.start_warming``) before the worker takes its first job (about a
second per 100,000 claims; messages wait safely in the queue meanwhile).

Why 2 s: the deadline (``bot.worker.sweeper``) is seconds, so the sweep has to look that often.
Measured on the 2-core dev machine (load 1-2, rounds of 50 sweeps): an idle sweep (nothing
stale: PING, one LRANGE, two indexed SELECTs, the alert check, one commit) takes 1.4-2.2 ms
wall / 1.35-1.6 ms CPU on SQLite and 3.1-3.7 ms / 2.3-2.4 ms on PostgreSQL, so at 2 s it
costs ~0.1 % of one core per deployment (one sweep per interval, however many workers).
With a backlog of 500 queued messages older than GRACE (the most one sweep looks at) it
takes 8-15 ms on either: under 1 % of a core while the backlog lasts.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.catalogue import answers
from bot.messaging.queueing import WORKER_BEAT_S, WORKER_TTL_S, worker_alive_key
from bot.ops.services import Services
from bot.worker import checkpointer, failpoints
from bot.worker.sweeper import sweep

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 2.0
WARM_WAIT_S = 60.0  # the longest a starting worker waits for its answer indexes


class Worker(SimpleWorker):
    """A SimpleWorker with the ``job_popped`` failpoint: the job is in RQ's intermediate list,
    still "queued", not yet started — where a killed worker leaves it (tests/reliability)."""

    def execute_job(self, job, queue):
        failpoints.hit("job_popped")
        super().execute_job(job, queue)


def make_worker(services: Services, name: str | None = None) -> SimpleWorker:
    return Worker([services.queue], connection=services.redis, serializer=JSONSerializer, name=name)


def _sweep_loop(services: Services, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            # One sweeper at a time across all workers of this deployment.
            lock = services.settings.redis_key("sweep-lock")
            if services.redis.set(lock, "1", nx=True, px=max(int(interval * 1000), 100)):
                sweep(services)
        except redis.RedisError as exc:
            log.warning("sweeper: redis unavailable (%s)", exc)
        except Exception:
            log.exception("sweeper failed; will try again")


def _beat(services: Services, key: str) -> None:
    try:
        services.redis.set(key, "1", ex=WORKER_TTL_S)
    except redis.RedisError as exc:
        log.debug("heartbeat not renewed (%s)", exc)


def _heartbeat_loop(services: Services, key: str, stop: threading.Event) -> None:
    """Renew this worker's liveness key until the worker stops, then remove it."""
    while not stop.wait(WORKER_BEAT_S):
        _beat(services, key)
    with contextlib.suppress(redis.RedisError):  # else it expires by itself
        services.redis.delete(key)


def run_worker(
    services: Services,
    burst: bool = False,
    sweep_interval: float = SWEEP_INTERVAL_S,
    name: str | None = None,
) -> bool:
    stop = threading.Event()
    worker = make_worker(services, name)
    alive = worker_alive_key(services.queue, worker.name)
    _beat(services, alive)  # before the first job can start
    beat = threading.Thread(
        target=_heartbeat_loop, args=(services, alive, stop), daemon=True, name="heartbeat"
    )
    beat.start()
    if not burst:
        threading.Thread(
            target=_sweep_loop, args=(services, stop, sweep_interval), daemon=True, name="sweeper"
        ).start()
        checkpointer.start(services, stop)
        # Answer indexes are built here, on read-only connections, and jobs are taken once
        # they are (or after WARM_WAIT_S): a question's job would otherwise wait for the build
        # inside its write transaction, and every webhook's INSERT behind it.
        answers.start_warming(services.engine).join(timeout=WARM_WAIT_S)
    try:
        return worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        beat.join(timeout=2 * WORKER_BEAT_S)
