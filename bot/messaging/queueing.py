"""Job defaults in one place: ids derived from data, retries, timeouts, time-to-live.

Job ids come from what the job is about (the MessageSid, the outbound row), so enqueueing
the same work twice — Twilio's retry, the sweeper, a restarted job — names the same job.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.utils import as_text

from bot.messaging.sids import SAFE_SID

log = logging.getLogger(__name__)

INBOUND_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
SEND_RETRY = Retry(max=4, interval=[5, 30, 120, 600])
# Deleting Twilio's copy of a file can wait; the sweeper queues it again after these.
MEDIA_DELETE_RETRY = Retry(max=5, interval=[10, 60, 300, 1800, 3600])
MAX_SEND_ATTEMPTS = SEND_RETRY.max + 1
JOB_TIMEOUT_S = 60
RESULT_TTL_S = 3600
FAILURE_TTL_S = 7 * 24 * 3600
# No job outlives its timeout: one "started" for longer belongs to a dead worker, whatever else.
STALE_STARTED = timedelta(seconds=JOB_TIMEOUT_S + 30)
# Liveness (``live_job_ids``). Our jobs take milliseconds; RQ marks a popped job started within
# milliseconds; so a job that is neither waiting nor visibly running for this long is dead.
ORPHAN_AFTER = timedelta(seconds=5)
WORKER_BEAT_S = 1.0  # how often a worker renews its liveness key...
WORKER_TTL_S = 5  # ...and how long the key outlives the last renewal
POPPED_TTL_S = 3600
# Jobs are named by dotted path, so this module never imports the worker that runs them.
INBOUND_JOB = "bot.worker.inbound.process_inbound"
SEND_JOB = "bot.worker.sending.send_outbound"
MEDIA_DELETE_JOB = "bot.worker.media.delete_twilio_media"


def inbound_job_id(message_sid: str) -> str:
    """RQ accepts only [A-Za-z0-9_-] in job ids; any other SID is named by its hash."""
    if SAFE_SID.fullmatch(message_sid):
        return f"inbound-{message_sid}"
    return "inbound-h" + hashlib.sha256(message_sid.encode("utf-8", "replace")).hexdigest()[:32]


def send_job_id(queue_name: str, outbound_id: int) -> str:
    """RQ's job keys are global to a Redis, and outbound ids repeat across deployments (each
    has its own database), so the queue name is part of the id."""
    return f"send-{queue_name}-{outbound_id}"


def media_delete_job_id(queue_name: str, row_id: int) -> str:
    return f"media-delete-{queue_name}-{row_id}"


def is_live(queue: Queue, job_id: str, now: datetime | None = None) -> bool:
    """Will this job run (again) without anyone queueing it? See :func:`live_job_ids`."""
    return job_id in live_job_ids(queue, [job_id], now)


def live_job_ids(queue: Queue, job_ids: list[str], now: datetime | None = None) -> set[str]:
    """Those of ``job_ids`` that are waiting their turn or really running, in a few round trips.

    Every state a job can be left in, and when it counts as alive:

    - *queued*, in the queue list: alive, however long the backlog.
    - *queued*, in RQ's intermediate list: a worker popped it and marks it started within
      milliseconds; still there ORPHAN_AFTER after the sweeper first saw it, the worker died
      in between (RQ's own cleanup would take ten minutes).
    - *queued* in neither list (its list lost): dead.
    - *started*: alive while its worker's liveness key (:func:`worker_alive_key`, renewed every
      WORKER_BEAT_S, expiring after WORKER_TTL_S) exists and the job is younger than
      STALE_STARTED; a worker without that key (not run by ``bot.worker.runtime``) is
      trusted for ORPHAN_AFTER.
    - *scheduled* (a retry's back-off): alive until ORPHAN_AFTER past its time; later, no
      scheduler is running to queue it.
    - *deferred*: alive while a job it depends on is.
    - missing (Redis flushed), finished, failed, stopped, canceled: dead.

    A dead job is queued again by the sweeper; jobs are idempotent, so a wrong guess costs
    only time, and a job that is waiting or running is never queued a second time.
    """
    if not job_ids:
        return set()
    now = now or datetime.now(UTC)
    conn = queue.connection
    waiting, popped, statuses = _snapshot(queue, job_ids)
    live = {i for i, status in statuses.items() if status == "queued" and i in waiting}
    others = [i for i, status in statuses.items() if status and i not in live]
    by_status: dict[str, list[Job]] = {}
    for job in filter(None, Job.fetch_many(others, connection=conn, serializer=queue.serializer)):
        by_status.setdefault(job.get_status(refresh=False), []).append(job)
    for job in by_status.get(JobStatus.QUEUED, []):  # popped, or in neither list (lost)
        if job.id in popped and not _orphaned(queue, job, now):
            live.add(job.id)
    live |= _running(queue, by_status.get(JobStatus.STARTED, []), now)
    if scheduled := by_status.get(JobStatus.SCHEDULED):
        times = conn.zmscore(queue.scheduled_job_registry.key, [job.id for job in scheduled])
        deadline = now.timestamp() - ORPHAN_AFTER.total_seconds()
        live |= {job.id for job, at in zip(scheduled, times, strict=True) if (at or 0) > deadline}
    for job in by_status.get(JobStatus.DEFERRED, []):
        if live_job_ids(queue, job.dependency_ids, now):
            live.add(job.id)
    return live


def _key(queue: Queue, *parts: str) -> str:
    """``Settings.redis_key``'s form (``ledgerbot:<QUEUE_NAME>:...``); the queue's name is
    QUEUE_NAME, and this layer may not import the settings."""
    return ":".join(("ledgerbot", queue.name, *parts))


def worker_alive_key(queue: Queue, worker_name: str) -> str:
    """Exists while the worker named so is alive (``bot.worker.runtime`` renews it)."""
    return _key(queue, "worker-alive", worker_name)


def popped_key(queue: Queue, job_id: str) -> str:
    """When the sweeper first saw this job popped but not started (and for which enqueueing)."""
    return _key(queue, "popped", job_id)


# KEYS: the queue list, the intermediate list, then each job's hash; ARGV: the job ids.
_SNAPSHOT = """
local statuses, queued, n = {}, {}, 0
for i, id in ipairs(ARGV) do
  statuses[i] = redis.call('HGET', KEYS[i + 2], 'status') or ''
  if statuses[i] == 'queued' then queued[id] = true; n = n + 1 end
end
local listed, popped = {}, {}
if n == 0 then return {statuses, listed, popped} end
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if queued[id] then popped[#popped + 1] = id end
end
if #ARGV == 1 then
  if redis.call('LPOS', KEYS[1], ARGV[1]) then listed[1] = ARGV[1] end
else
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    if queued[id] then listed[#listed + 1] = id end
  end
end
return {statuses, listed, popped}
"""


def _snapshot(queue: Queue, job_ids: list[str]) -> tuple[set[str], set[str], dict]:
    """Which queued ones are in the queue list and which in the intermediate list, and every
    one's status, at one instant (a script): read one after the other, a job popped or
    started in between would seem to be in neither list, and be queued a second time.

    The lists are read only when a job is "queued" (a job that exists, not yet, as every
    new send that ``try_enqueue_sends`` asks about, costs one HGET); one LPOS for one id
    (the oldest wait near the front), one LRANGE for many: 500 LPOS over a 10,000-job list
    cost Redis 70 ms, one LRANGE of it 2 ms. Statuses only (RQ's own HGET): restoring
    whole jobs for a backlog that is all "queued" was 90 % of a sweep over 500 of them.
    """
    conn = queue.connection
    keys = [queue.key, queue.intermediate_queue_key, *(Job.key_for(i) for i in job_ids)]
    found, listed, popped = conn.register_script(_SNAPSHOT)(keys=keys, args=job_ids)
    statuses = {i: as_text(x) or None for i, x in zip(job_ids, found, strict=True)}
    return {as_text(x) for x in listed}, {as_text(x) for x in popped}, statuses


def _orphaned(queue: Queue, job: Job, now: datetime) -> bool:
    """Popped ORPHAN_AFTER ago or more (as first seen by a caller), and still not started."""
    key = popped_key(queue, job.id)
    enqueued = job.enqueued_at.isoformat() if job.enqueued_at else ""
    seen = as_text(queue.connection.get(key) or b"")
    stamp, _, since = seen.partition("|")
    if stamp == enqueued and since and float(since) <= now.timestamp():
        return now.timestamp() - float(since) >= ORPHAN_AFTER.total_seconds()
    queue.connection.set(key, f"{enqueued}|{now.timestamp()}", ex=POPPED_TTL_S)
    return False


def _running(queue: Queue, started: list[Job], now: datetime) -> set[str]:
    if not started:
        return set()
    names = [job.worker_name or "" for job in started]
    beating = queue.connection.mget([worker_alive_key(queue, name) for name in names])
    live = set()
    for job, beat in zip(started, beating, strict=True):
        since = job.last_heartbeat or job.started_at
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        age = now - since if since is not None else timedelta(0)
        if age < STALE_STARTED and (beat is not None or age < ORPHAN_AFTER):
            live.add(job.id)
    return live


def enqueue_inbound(
    queue: Queue,
    inbound_id: int,
    message_sid: str,
    *,
    pipeline=None,
    at_front: bool = False,
    alone: bool = False,
) -> Job:
    """One Redis round trip (a pipeline): this runs inside every webhook request. With
    ``pipeline``, the caller's, which the caller executes. ``alone``: the job takes no other
    messages along (``bot.worker.take_along``)."""
    options = {"at_front": at_front, "meta": {"alone": True} if alone else None}
    if pipeline is not None:
        return _enqueue_inbound(queue, inbound_id, message_sid, pipeline, options)
    with queue.connection.pipeline() as pipe:
        job = _enqueue_inbound(queue, inbound_id, message_sid, pipe, options)
        pipe.execute()
    return job


def _enqueue_inbound(queue: Queue, inbound_id: int, message_sid: str, pipe, options) -> Job:
    return queue.enqueue(
        INBOUND_JOB,
        inbound_id,
        job_id=inbound_job_id(message_sid),
        retry=INBOUND_RETRY,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        pipeline=pipe,
        **options,
    )


def enqueue_send(queue: Queue, outbound_id: int, *, pipeline=None, in_s: float = 0) -> Job:
    """The send job of one outbox row, at the front of the queue (a reply someone waits for),
    or ``in_s`` seconds from now (a retry's back-off, run by the worker's scheduler)."""
    options = {
        "job_id": send_job_id(queue.name, outbound_id),
        "retry": SEND_RETRY,
        "job_timeout": JOB_TIMEOUT_S,
        "result_ttl": RESULT_TTL_S,
        "failure_ttl": FAILURE_TTL_S,
    }
    if in_s:
        return queue.enqueue_in(timedelta(seconds=in_s), SEND_JOB, outbound_id, **options)
    return queue.enqueue(SEND_JOB, outbound_id, at_front=True, pipeline=pipeline, **options)


def enqueue_new(queue: Queue, *, sends: list[int], media_deletes: list[int]) -> None:
    """Jobs for rows this very transaction created, so no job of theirs can exist yet: queued
    without asking RQ about them first, all in one pipeline (one round trip). Best effort, as
    ever: what cannot be queued now is queued by the sweeper."""
    if not sends and not media_deletes:
        return
    try:
        with queue.connection.pipeline() as pipe:
            for outbound_id in sends:
                enqueue_send(queue, outbound_id, pipeline=pipe)
            for row_id in media_deletes:
                enqueue_media_delete(queue, row_id, pipeline=pipe)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not queue %s job(s) (%s); the sweeper will", len(sends), exc)


def try_enqueue_sends(queue: Queue, outbound_ids: list[int]) -> None:
    """Best effort: a send that cannot be queued now is picked up by the sweeper.

    A send already queued or waiting for its retry is left alone, so a handler job that runs
    twice does not cut a Twilio back-off short.
    """
    for outbound_id in outbound_ids:
        try:
            if not is_live(queue, send_job_id(queue.name, outbound_id)):
                enqueue_send(queue, outbound_id)
        except redis.RedisError as exc:
            log.warning("could not queue outbound %s (%s); the sweeper will", outbound_id, exc)
            return


def enqueue_media_delete(queue: Queue, row_id: int, *, pipeline=None) -> Job:
    return queue.enqueue(
        MEDIA_DELETE_JOB,
        row_id,
        job_id=media_delete_job_id(queue.name, row_id),
        retry=MEDIA_DELETE_RETRY,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        pipeline=pipeline,
    )


def try_enqueue_media_deletes(queue: Queue, row_ids: list[int]) -> None:
    """Best effort, like sends: a delete not queued now is queued by the sweeper."""
    for row_id in row_ids:
        try:
            if not is_live(queue, media_delete_job_id(queue.name, row_id)):
                enqueue_media_delete(queue, row_id)
        except redis.RedisError as exc:
            log.warning("could not queue media delete %s (%s); the sweeper will", row_id, exc)
            return
