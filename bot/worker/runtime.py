"""Running RQ workers: the worker class, its scheduler (for Retry), and the sweeper thread.

``SimpleWorker`` runs jobs in the worker process rather than a fork per job: our jobs are
short database transactions, and forking costs more than the job (about 4x the throughput
here). A worker killed mid-job loses only an uncommitted transaction; the sweeper requeues it.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.ops.services import Services
from bot.worker.sweeper import sweep

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 30


def make_worker(services: Services, name: str | None = None) -> SimpleWorker:
    return SimpleWorker(
        [services.queue], connection=services.redis, serializer=JSONSerializer, name=name
    )


def _sweep_loop(services: Services, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            # One sweeper at a time across all workers of this deployment.
            lock = services.settings.redis_key("sweep-lock")
            if services.redis.set(lock, "1", nx=True, ex=max(int(interval), 1)):
                sweep(services)
        except redis.RedisError as exc:
            log.warning("sweeper: redis unavailable (%s)", exc)
        except Exception:
            log.exception("sweeper failed; will try again")


def run_worker(
    services: Services,
    burst: bool = False,
    sweep_interval: float = SWEEP_INTERVAL_S,
    name: str | None = None,
) -> bool:
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_sweep_loop, args=(services, stop, sweep_interval), daemon=True, name="sweeper"
        ).start()
    try:
        return make_worker(services, name).work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
