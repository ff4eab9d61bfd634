"""The sweeper: the database is the source of truth, the queue only a way to get work done.

A message can be stored while Redis is down, a job can be lost with a killed worker or a
flushed Redis; the sweeper finds stored work that is neither done nor alive in RQ
(:func:`bot.messaging.queueing.live_job_ids` says what alive means in every state) and queues
it again. Jobs are idempotent, so queueing something twice is harmless. Work that keeps failing
is given up after a few rounds and left in a ``failed`` state for operators.

*The deadline.* A message whose job is not alive GRACE (10 s) after it arrived is queued again
by the next sweep, and sweeps run every 2 s (``bot.worker.runtime``): within 12 s of its
arrival, or within ~8 s of its worker dying, whichever is later (a dead worker's liveness key
lapses within 5 s; a job it popped but never started is dead ORPHAN_AFTER, 5 s, after a
sweep first saw it, and every sweep looks at RQ's intermediate list). Measured: killed right
after popping, or at the first line of either job, the reply came 11.2-11.5 s after the
message arrived (tests/reliability/test_stuck_jobs.py). GRACE covers the webhook's
store-then-enqueue (up to its 2 s connect + 5 s socket timeouts against a slow Redis):
sooner, the sweeper would race the webhook and run a job twice.

A re-queued job is re-queued once: what the dead run left in RQ (its entry in the intermediate
list, the started, scheduled and failed registries) is cleared first, so RQ's own cleanup does
not fail or retry the new run minutes later, and the new run is then alive (queued) to the
next sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from rq.intermediate_queue import IntermediateQueue
from rq.utils import as_text
from sqlalchemy import select, update

from bot.media.collect import collect
from bot.media.store import MediaStore
from bot.messaging import outbox
from bot.messaging.addresses import format_address
from bot.messaging.models import InboundMessage, OutboundMessage, TwilioMedia
from bot.messaging.queueing import (
    enqueue_inbound,
    enqueue_media_delete,
    enqueue_send,
    inbound_job_id,
    live_job_ids,
    media_delete_job_id,
    popped_key,
    send_job_id,
    try_enqueue_sends,
)
from bot.moderation.notices import alerts
from bot.worker.take_along import TAKE_ALONG
from ledger.db import transaction

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=10)
# Well past the longest a claimed send can still be on its way: a batch's rows are claimed
# together and may wait for the batch's other calls before their own (bot.worker.sending),
# each up to the Twilio client's timeout (stuck_sending below).
STUCK_SENDING = timedelta(minutes=2)
GIVE_UP_SENDING = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=1)
MAX_SWEEPS_PER_MESSAGE = 10
BATCH = 500
DELETE_RETRY_AFTER = timedelta(minutes=15)  # past the delete job's own first retries
COLLECT_EVERY_S = 600


@dataclass
class SweepReport:
    inbound_queued: int = 0
    inbound_failed: int = 0
    outbound_queued: int = 0
    outbound_reconciled: int = 0
    outbound_unknown: int = 0
    alerts: int = 0
    media_deletes_queued: int = 0


def sweep(services, now: datetime | None = None, grace: timedelta = GRACE) -> SweepReport:
    now = now or datetime.now(UTC)
    report = SweepReport()
    queue = services.queue
    try:
        queue.connection.ping()
    except redis.RedisError as exc:
        log.warning("sweep skipped: redis unreachable (%s)", exc)
        return report
    # Start the clock on anything popped but not started, before its message is old enough.
    popped = [as_text(x) for x in queue.connection.lrange(queue.intermediate_queue_key, 0, -1)]
    live_job_ids(queue, popped, now)
    with transaction(services.sessions) as session:
        _sweep_inbound(session, queue, now - grace, now, report)
        _sweep_outbound(session, queue, now - grace, now, report)
        new_alerts = outbox.store(
            session, services.settings, alerts(session, services.settings, now)
        )

    try_enqueue_sends(queue, new_alerts)
    report.media_deletes_queued = _sweep_twilio_media(services, queue, now)
    _collect_media(services)
    report.outbound_reconciled, report.outbound_unknown = reconcile_sending(services, now)
    report.alerts = len(new_alerts)
    if any(vars(report).values()):
        log.info("sweep: %s", report)
    return report


def _sweep_inbound(session, queue: Queue, before: datetime, now: datetime, report) -> None:
    stale = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.status == "received", InboundMessage.received_at < before)
        .order_by(InboundMessage.id)
        .limit(BATCH)
    ).all()
    live = live_job_ids(queue, [inbound_job_id(m.message_sid) for m in stale], now)
    for message in stale:
        job_id = inbound_job_id(message.message_sid)
        if job_id in live:
            continue
        if message.attempts >= MAX_SWEEPS_PER_MESSAGE:
            message.status = "failed"
            report.inbound_failed += 1
            log.error("inbound %s given up after %s sweeps", message.message_sid, message.attempts)
            continue
        message.attempts += 1
        forget_dead_run(queue, job_id)
        enqueue_inbound(queue, message.id, message.message_sid)
        report.inbound_queued += 1


def _sweep_outbound(session, queue: Queue, before: datetime, now: datetime, report) -> None:
    """Pending sends whose job is gone. A reply is sent by the inbound job that wrote it, so a
    pending reply with no send job may mean that job died after its commit: what it left in
    RQ (a started entry of a dead worker) is cleared too, or RQ would retry it later."""
    waiting = session.execute(
        select(OutboundMessage.id, InboundMessage.message_sid)
        .outerjoin(InboundMessage, OutboundMessage.inbound_id == InboundMessage.id)
        .where(OutboundMessage.status == "pending", OutboundMessage.updated_at < before)
        .order_by(OutboundMessage.id)
        .limit(BATCH)
    ).all()
    handlers = {inbound_job_id(sid) for _, sid in waiting if sid}
    live = live_job_ids(
        queue, [send_job_id(queue.name, i) for i, _ in waiting] + sorted(handlers), now
    )
    for outbound_id, sid in waiting:
        job_id = send_job_id(queue.name, outbound_id)
        if job_id in live:
            continue
        if sid and inbound_job_id(sid) not in live:
            forget_dead_run(queue, inbound_job_id(sid))
        forget_dead_run(queue, job_id)
        enqueue_send(queue, outbound_id)
        report.outbound_queued += 1


def _sweep_twilio_media(services, queue: Queue, now: datetime) -> int:
    """Queue again the deletes of Twilio's copies whose jobs are gone (retries used up, Redis
    lost); every DELETE_RETRY_AFTER, for as long as it takes (``doctor`` warns after an hour)."""
    with services.read_sessions() as session:
        waiting = session.scalars(
            select(TwilioMedia.id)
            .where(
                TwilioMedia.status == "pending",
                TwilioMedia.updated_at < now - DELETE_RETRY_AFTER,
            )
            .order_by(TwilioMedia.id)
            .limit(BATCH)
        ).all()
    live = live_job_ids(queue, [media_delete_job_id(queue.name, i) for i in waiting], now)
    queued = 0
    for row_id in waiting:
        job_id = media_delete_job_id(queue.name, row_id)
        if job_id not in live:
            forget_dead_run(queue, job_id)
            enqueue_media_delete(queue, row_id)
            queued += 1
    return queued


def _collect_media(services) -> None:
    """The media store's periodic collection (``bot.media.collect``), once per interval for
    the whole deployment (a Redis key with a time-to-live), never on a message's path."""
    key = services.settings.redis_key("media-collect")
    if not services.redis.set(key, "1", nx=True, ex=COLLECT_EVERY_S):
        return
    with services.read_sessions() as session:
        collect(session, MediaStore(services.settings.resolved_media_dir))


def forget_dead_run(queue: Queue, job_id: str) -> None:
    """Clear what a dead run of ``job_id`` left in RQ, before it is queued again.

    Left there, RQ's cleanup would act on the new run: an id left in the intermediate list is
    failed (or retried: run a third time) after a minute there, a stale started entry is
    "abandoned" and retried, a failed entry counts in the ``failed`` queue depth for a week.
    """
    conn = queue.connection
    started = queue.started_job_registry.key
    runs = [m for m in conn.zrange(started, 0, -1) if as_text(m).split(":", 1)[0] == job_id]
    intermediate = IntermediateQueue(queue.key, conn)
    with conn.pipeline() as pipe:
        pipe.lrem(intermediate.key, 0, job_id)
        pipe.delete(intermediate.get_first_seen_key(job_id), popped_key(queue, job_id))
        if runs:
            pipe.zrem(started, *runs)
        for registry in (queue.scheduled_job_registry, queue.failed_job_registry):
            pipe.zrem(registry.key, job_id)
        pipe.execute()


def stuck_sending(settings) -> timedelta:
    """How long a claimed send may go unrecorded before the sweeper asks Twilio about it."""
    on_its_way = (TAKE_ALONG + 2) * settings.twilio_timeout_s  # a whole batch, one by one
    return max(STUCK_SENDING, timedelta(seconds=on_its_way))


def reconcile_sending(services, now: datetime) -> tuple[int, int]:
    """Settle sends that were claimed but never recorded (the worker died mid-send).

    Twilio is asked whether the text arrived: if it lists a message with our body to that
    number created after the claim, we record it as sent; if not, the row goes back to
    pending and is sent again. Either way the person gets exactly one text. Rows Twilio can
    not be asked about for a day are marked ``unknown`` for an operator.
    """
    with services.sessions() as session:
        stuck = session.scalars(
            select(OutboundMessage)
            .where(
                OutboundMessage.status == "sending",
                OutboundMessage.updated_at < now - stuck_sending(services.settings),
            )
            .limit(100)
        ).all()
    reconciled = unknown = 0
    for message in stuck:
        claimed_at = message.updated_at
        if claimed_at.tzinfo is None:
            claimed_at = claimed_at.replace(tzinfo=UTC)
        values = None
        try:
            match = _find_sent(services, message, claimed_at - CLOCK_SKEW)
            values = (
                {"status": match.status or "sent", "twilio_sid": match.sid}
                if match is not None
                else {"status": "pending"}
            )
            reconciled += 1
        except Exception as exc:
            log.warning("could not reconcile outbound %s: %s", message.id, exc)
            if now - claimed_at > GIVE_UP_SENDING:
                values = {"status": "unknown", "error_message": "send never confirmed"}
                unknown += 1
        if values is not None:
            with transaction(services.sessions) as session:
                session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == message.id, OutboundMessage.status == "sending")
                    .values(**values)
                )
    return reconciled, unknown


def _find_sent(services, message: OutboundMessage, since: datetime):
    if services.twilio is None:
        return None
    to = format_address(message.channel, message.to_number)
    sender = format_address(message.channel, message.from_number or "")
    with services.sessions() as session:
        known = set(
            session.scalars(
                select(OutboundMessage.twilio_sid).where(
                    OutboundMessage.to_number == message.to_number,
                    OutboundMessage.twilio_sid.is_not(None),
                )
            )
        )
    for candidate in services.twilio.messages.list(to=to, from_=sender, limit=50):
        created = candidate.date_created
        if candidate.sid in known or (created is not None and created < since):
            continue
        if (candidate.body or "") == message.body:
            return candidate
    return None
