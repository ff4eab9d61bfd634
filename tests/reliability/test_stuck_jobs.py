"""Nothing sits in RQ's lists: a worker killed right after popping a job, and a fresh one.

RQ 2+ moves a job from the queue list to an "intermediate" list when a worker pops it, and only
marks it "started" a moment later; a worker SIGKILLed in between leaves it there, still
"queued", until RQ's own cleanup about ten minutes later. These tests kill a real worker at
that moment (and at the first line of each job), start a fresh worker, and time the reply.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select

from bot.messaging.models import InboundMessage, OutboundMessage
from bot.messaging.queueing import (
    INBOUND_JOB,
    ORPHAN_AFTER,
    STALE_STARTED,
    inbound_job_id,
    is_live,
    send_job_id,
    worker_alive_key,
)
from bot.worker.runtime import SWEEP_INTERVAL_S
from bot.worker.sweeper import GRACE, sweep
from tests.support.messaging import drain, inbound_params, post_signed
from tests.support.processes import run_worker, service_env
from tests.test_helpers import load_demo

pytestmark = pytest.mark.slow
SENDER = "+15551120001"
# A fresh worker is up ~2 s after the kill; then the sweeper re-queues the dead job by the first
# sweep after GRACE. What the slack covers: interpreter start-up, the job and the send.
SLACK_S = 3.0


@contextmanager
def fresh_worker(services, log_path, **env: str):
    """A long-running worker process (its sweeper thread included), stopped with SIGTERM."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker"],
            env=service_env(services, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _job(services, job_id: str) -> Job:
    return Job.fetch(job_id, connection=services.redis, serializer=services.queue.serializer)


def _assert_left_behind(services, failpoint: str) -> None:
    """The state the kill left: the exact one the attack found, or a "started" orphan."""
    queue = services.queue
    with services.sessions() as session:
        sid = session.scalar(select(InboundMessage.message_sid))
        outbound_id = session.scalar(select(OutboundMessage.id))
    job_id = inbound_job_id(sid)
    if failpoint == "send_started":  # the reply is sent by the inbound job, after its commit
        assert _job(services, job_id).get_status(refresh=False) == JobStatus.STARTED
        with services.sessions() as session:
            assert session.get(OutboundMessage, outbound_id).status == "pending"
        assert not services.redis.exists(f"rq:job:{send_job_id(queue.name, outbound_id)}")
        return
    status = _job(services, job_id).get_status(refresh=False)
    if failpoint == "job_popped":
        assert status == JobStatus.QUEUED
        assert services.redis.lrange(queue.intermediate_queue_key, 0, -1) == [job_id.encode()]
        assert services.redis.llen(queue.key) == 0
    else:
        assert status == JobStatus.STARTED


@pytest.mark.parametrize("failpoint", ["job_popped", "inbound_started", "send_started"])
def test_worker_killed_after_popping_then_a_fresh_worker_replies_within_the_deadline(
    tmp_path, client, services, twilio, failpoint
):
    if failpoint != "inbound_started" and services.engine.dialect.name != "sqlite":
        # What differs between the failpoints is the job's state in RQ (Redis), not in the
        # database; PostgreSQL runs one of them (and the deadline test), which keeps CI in time.
        pytest.skip("the RQ states are the same on both databases: PostgreSQL runs one")
    load_demo(services)
    assert post_signed(client, inbound_params(SENDER, "semax|still there?")).status_code == 200
    arrived = time.monotonic()
    assert run_worker(services, failpoints=f"{failpoint}=kill") == -9
    _assert_left_behind(services, failpoint)

    budget = GRACE.total_seconds() + SWEEP_INTERVAL_S + SLACK_S
    with fresh_worker(services, tmp_path / "worker.log"):
        remaining = budget - (time.monotonic() - arrived)
        [reply] = twilio.wait_for(count=1, timeout=remaining)
        replied_after = time.monotonic() - arrived
        time.sleep(2 * SWEEP_INTERVAL_S)  # two more sweeps: nothing is queued again
    assert replied_after <= budget
    assert reply["to"] == SENDER and "semax" in reply["body"].lower()
    assert len(twilio.messages) == 1
    with services.sessions() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        assert inbound.status == "done"
        assert inbound.attempts == (0 if failpoint == "send_started" else 1)  # re-queued once
        assert session.scalars(select(OutboundMessage.status)).all() == ["queued"]
    queue = services.queue
    assert services.redis.llen(queue.intermediate_queue_key) == 0
    assert queue.started_job_registry.count == 0
    assert queue.failed_job_registry.count == 0


def test_a_job_running_longer_than_the_deadline_is_not_queued_again(tmp_path, client, services):
    """Its worker is alive (heartbeat), so however long it runs the sweeper leaves it alone."""
    load_demo(services)
    assert post_signed(client, inbound_params(SENDER, "semax|slow one?")).status_code == 200
    wait = GRACE.total_seconds() + ORPHAN_AFTER.total_seconds() + 2 * SWEEP_INTERVAL_S
    env_extra = {"LEDGERBOT_FAILPOINTS": f"inbound_started=sleep:{wait}"}
    with fresh_worker(services, tmp_path / "worker.log", **env_extra):
        deadline = time.monotonic() + wait + 10
        while time.monotonic() < deadline and _inbound(services).status != "done":
            time.sleep(0.2)
    inbound = _inbound(services)
    assert inbound.status == "done" and inbound.attempts == 0


# --------------------------------------------------------------------------- every state


def _started(queue, job_id: str, worker_name: str) -> None:
    """What a worker does after popping: RQ's own bookkeeping, in one transaction."""
    job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    with queue.connection.pipeline() as pipe:
        job.prepare_for_execution(worker_name, pipeline=pipe)
        pipe.lrem(queue.intermediate_queue_key, 1, job_id)
        pipe.execute()


def test_every_state_a_job_can_be_left_in(services):
    queue, conn = services.queue, services.redis
    t0 = datetime.now(UTC)

    def live(job_id: str, seconds: float) -> bool:
        return is_live(queue, job_id, t0 + timedelta(seconds=seconds))

    for job_id in ("popped", "running", "orphan", "waiting", "dependency", "gone"):
        queue.enqueue(INBOUND_JOB, 1, job_id=job_id)
    for _ in range(3):  # what a worker's BLMOVE does: popped, running, orphan
        conn.lmove(queue.key, queue.intermediate_queue_key)
    _started(queue, "running", "worker-alive")
    conn.set(worker_alive_key(queue, "worker-alive"), "1", ex=60)
    _started(queue, "orphan", "worker-dead")
    queue.enqueue_in(timedelta(seconds=60), INBOUND_JOB, 1, job_id="retry")
    queue.enqueue(INBOUND_JOB, 1, job_id="after", depends_on="dependency")
    queue.enqueue(INBOUND_JOB, 1, job_id="after-gone", depends_on="gone")
    Job.fetch("gone", connection=conn, serializer=queue.serializer).delete()
    assert Job.fetch("after", connection=conn).get_status() == JobStatus.DEFERRED

    assert live("waiting", 3600)  # a backlog: waiting its turn, however long
    assert live("popped", 0) and live("popped", 4)  # a worker is about to start it...
    assert not live("popped", ORPHAN_AFTER.total_seconds())  # ...or died doing so
    assert live("running", 30)  # a long job of a live worker
    assert not live("running", STALE_STARTED.total_seconds() + 1)  # longer than any job runs
    assert live("orphan", 1) and not live("orphan", ORPHAN_AFTER.total_seconds() + 1)
    assert live("retry", 0) and live("retry", 60 + ORPHAN_AFTER.total_seconds() - 1)
    assert not live("retry", 60 + ORPHAN_AFTER.total_seconds() + 1)  # no scheduler ran
    assert live("after", 3600) and not live("after-gone", 0)
    assert not live("never-queued", 0)  # missing: Redis flushed
    Job.fetch("waiting", connection=conn).set_status(JobStatus.FAILED)
    assert not live("waiting", 0)
    conn.delete(queue.key)  # the queue list itself lost
    assert not live("dependency", 0)


# --------------------------------------------------------------------------- the sweeper


def _store(client, services, n: int = 1) -> list[str]:
    for i in range(n):
        params = inbound_params(f"+1555113{i:04d}", "semax|waiting?")
        assert post_signed(client, params).status_code == 200
    with services.sessions() as session:
        return [inbound_job_id(sid) for sid in session.scalars(select(InboundMessage.message_sid))]


def _inbound(services) -> InboundMessage:
    with services.sessions() as session:
        return session.scalars(select(InboundMessage)).one()


def test_a_backlog_waiting_its_turn_is_never_queued_again(client, services, twilio):
    load_demo(services)
    _store(client, services, 3)
    for minutes in (1, 10, 60):
        assert (
            sweep(services, now=datetime.now(UTC) + timedelta(minutes=minutes)).inbound_queued == 0
        )
    assert services.redis.llen(services.queue.key) == 3
    drain(services)
    assert len(twilio.wait_for(count=3)) == 3


def test_an_orphan_is_queued_again_once_and_rq_forgets_the_dead_run(client, services, twilio):
    load_demo(services)
    queue, conn = services.queue, services.redis
    [job_id] = _store(client, services)
    conn.lmove(queue.key, queue.intermediate_queue_key)  # popped by a worker that then died
    t0 = datetime.now(UTC)
    assert sweep(services, now=t0).inbound_queued == 0  # too young, but its clock starts
    later = t0 + GRACE + timedelta(seconds=1)
    assert sweep(services, now=later).inbound_queued == 1
    assert conn.lrange(queue.intermediate_queue_key, 0, -1) == []
    assert conn.lrange(queue.key, 0, -1) == [job_id.encode()]
    for seconds in (2, 4, 60):
        assert sweep(services, now=later + timedelta(seconds=seconds)).inbound_queued == 0
    drain(services)
    twilio.wait_for(count=1)
    assert _inbound(services).attempts == 1 and len(twilio.messages) == 1


def test_an_overdue_retry_with_no_scheduler_running_is_queued_again_once(client, services, twilio):
    load_demo(services)
    queue, conn = services.queue, services.redis
    [job_id] = _store(client, services)
    job = Job.fetch(job_id, connection=conn, serializer=queue.serializer)
    conn.lrem(queue.key, 0, job_id)
    t0 = datetime.now(UTC)
    queue.schedule_job(job, t0 + GRACE)  # its retry's back-off; then the scheduler died
    assert sweep(services, now=t0 + GRACE + timedelta(seconds=1)).inbound_queued == 0
    overdue = t0 + GRACE + ORPHAN_AFTER + timedelta(seconds=1)
    assert sweep(services, now=overdue).inbound_queued == 1
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert sweep(services, now=overdue + timedelta(seconds=2)).inbound_queued == 0
    drain(services)
    twilio.wait_for(count=1)
    assert _inbound(services).attempts == 1 and len(twilio.messages) == 1
