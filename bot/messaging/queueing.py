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
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bot.messaging.sids import SAFE_SID

log = logging.getLogger(__name__)

INBOUND_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
SEND_RETRY = Retry(max=4, interval=[5, 30, 120, 600])
MAX_SEND_ATTEMPTS = SEND_RETRY.max + 1
JOB_TIMEOUT_S = 60
RESULT_TTL_S = 3600
FAILURE_TTL_S = 7 * 24 * 3600
STALE_STARTED = timedelta(seconds=JOB_TIMEOUT_S + 30)
# Jobs are named by dotted path, so this module never imports the worker that runs them.
INBOUND_JOB = "bot.worker.inbound.process_inbound"
SEND_JOB = "bot.worker.sending.send_outbound"
LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def inbound_job_id(message_sid: str) -> str:
    """RQ accepts only [A-Za-z0-9_-] in job ids; any other SID is named by its hash."""
    if SAFE_SID.fullmatch(message_sid):
        return f"inbound-{message_sid}"
    return "inbound-h" + hashlib.sha256(message_sid.encode("utf-8", "replace")).hexdigest()[:32]


def send_job_id(queue_name: str, outbound_id: int) -> str:
    """RQ's job keys are global to a Redis, and outbound ids repeat across deployments (each
    has its own database), so the queue name is part of the id."""
    return f"send-{queue_name}-{outbound_id}"


def is_live(queue: Queue, job_id: str, now: datetime | None = None) -> bool:
    """Queued, scheduled or really running — not "started" by a worker that has since died.

    Our jobs take well under a second, so a job "started" without a heartbeat for longer
    than STALE_STARTED belonged to a worker that was killed; the sweeper may queue it again
    (the job is idempotent, so even a wrong guess costs nothing but time).
    """
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status != JobStatus.STARTED:
        return status in LIVE
    beat = job.last_heartbeat or job.started_at
    if beat is None:
        return True
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - beat < STALE_STARTED


def enqueue_inbound(queue: Queue, inbound_id: int, message_sid: str) -> Job:
    """One Redis round trip (a pipeline): this runs inside every webhook request."""
    with queue.connection.pipeline() as pipe:
        job = queue.enqueue(
            INBOUND_JOB,
            inbound_id,
            job_id=inbound_job_id(message_sid),
            retry=INBOUND_RETRY,
            job_timeout=JOB_TIMEOUT_S,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            pipeline=pipe,
        )
        pipe.execute()
    return job


def enqueue_send(queue: Queue, outbound_id: int) -> Job:
    return queue.enqueue(
        SEND_JOB,
        outbound_id,
        job_id=send_job_id(queue.name, outbound_id),
        retry=SEND_RETRY,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        at_front=True,
    )


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
