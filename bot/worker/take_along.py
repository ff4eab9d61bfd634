"""Taking along: when messages queue up, one inbound job handles the next waiting ones too.

Every message still gets its own RQ job from the webhook, and at idle each job handles just
its message. Under a backlog, the job that runs also takes up to TAKE_ALONG of the messages
stored after its own whose jobs are still *waiting* in the queue: a Redis script removes each
such job from the queue list and deletes its hash, atomically, so a job is taken only if no
worker has popped it (LREM is the arbiter: a job already popped is not in the list). The
taken messages are then handled in the same transaction as the job's own (one commit for all,
each with its own claim, so a message is still handled exactly once) and their replies sent
with one claim commit and one record commit (``bot.worker.sending.deliver_replies``).

Why: per message, RQ's own bookkeeping (dequeue, job status, registries) and the three
durable commits cost more CPU than handling the message did (bench/results.md, the worker
stage's profile). Taking along spends them once per batch instead.

What can go wrong, and what happens then:

- The transaction fails (a handler raised, the database went away): the taken messages are
  queued again as jobs of their own that run alone, at the front of the queue
  (:func:`give_back`), and the job handles its own message again, alone; if that fails too,
  it raises as it always did. Its RQ retry, and any message the sweeper re-queued, runs alone
  too. So a message that makes handling fail fails alone, and the messages around it are
  answered at once.
- The worker dies before the commit (SIGKILL, a lost machine): the taken messages have no job
  any more, which is what the sweeper looks for: it queues them again GRACE after they
  arrived, as for any job lost with a worker (``bot.worker.sweeper``).
- A taken message that another run handles meanwhile (the sweeper's): the claim (UPDATE …
  WHERE status = 'received') lets only one of them handle it.

Messages with files are never taken along, and a job whose own message has files takes
nothing along: fetching files has its own 30 s deadline, which nobody else should wait for.
Moderators' decisions and STOP/START are not handled in a batch either (``MUST_RUN_ALONE``,
given back by ``bot.worker.inbound``): they lock rows (the evidence item, the person's
contacts on other channels) that other transactions lock before the ledger head, and a batch
may already hold the head by then.
"""

from __future__ import annotations

import logging

import redis
from rq import get_current_job
from rq.job import Job
from rq.utils import as_text
from sqlalchemy import select

from bot.messaging.models import InboundMessage
from bot.messaging.queueing import enqueue_inbound, inbound_job_id
from bot.parsing import Approve, Reject, Start, Stop

log = logging.getLogger(__name__)

# Commands handled only as a job's own message, never taken along (see the docstring).
MUST_RUN_ALONE = (Approve, Reject, Stop, Start)

# At most this many messages more per job. Measured on the 2-core machine (bench worker stage,
# SQLite): 15 reaches the throughput plateau, while the handling transaction, and so SQLite's
# write lock a webhook's INSERT may wait for, stays within ~50 ms.
TAKE_ALONG = 15

# Candidates looked at per job: rows still "received" may be in another worker's batch (their
# jobs already taken), so the next TAKE_ALONG of them alone could leave this job nothing.
LOOK_AHEAD = 4 * TAKE_ALONG

# KEYS: the queue list, then each job's hash; ARGV: how many to take, then the job ids. A job
# is taken only if it is still waiting in the queue list (no worker has it), and then its hash
# goes too.
_TAKE = """
local taken, want = {}, tonumber(ARGV[1])
for i = 2, #ARGV do
  if #taken >= want then break end
  if redis.call('LREM', KEYS[1], 0, ARGV[i]) > 0 then
    redis.call('DEL', KEYS[i])
    taken[#taken + 1] = ARGV[i]
  end
end
return taken
"""


def take_along(services, own: InboundMessage) -> list[InboundMessage]:
    """Messages after ``own`` whose jobs were waiting, now this job's to handle (see above)."""
    job = get_current_job()
    if job is None or job.number_of_retries or own.attempts or (job.meta or {}).get("alone"):
        return []  # a retry, a sweeper's re-queue and a message given back run alone
    if own.media:  # its files are fetched first (up to 30 s): nobody else waits for that
        return []
    with services.read_sessions() as session:
        rows = session.execute(
            select(InboundMessage.id, InboundMessage.message_sid, InboundMessage.media)
            .where(InboundMessage.status == "received", InboundMessage.id > own.id)
            .order_by(InboundMessage.id)
            .limit(LOOK_AHEAD)
        ).all()
    by_job = {inbound_job_id(row.message_sid): row.id for row in rows if not row.media}
    if not by_job:
        return []
    queue = services.queue
    try:
        script = queue.connection.register_script(_TAKE)
        keys = [queue.key, *map(Job.key_for, by_job)]
        taken = script(keys=keys, args=[TAKE_ALONG, *by_job])
    except redis.RedisError as exc:
        log.warning("could not take waiting messages along (%s); each runs as its own job", exc)
        return []
    if not taken:
        return []
    ids = [by_job[as_text(job_id)] for job_id in taken]
    with services.read_sessions() as session:
        found = session.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids))).all()
    return sorted(found, key=lambda inbound: inbound.id)


def give_back(services, messages: list[InboundMessage]) -> None:
    """Queue taken messages again as jobs of their own that take nothing along, at the front
    of the queue in their order (they were next); what cannot be queued now, the sweeper
    queues (they are "received" and have no job)."""
    if not messages:
        return
    try:
        with services.queue.connection.pipeline() as pipe:
            for message in reversed(messages):  # each pushed in front of the one after it
                enqueue_inbound(
                    services.queue,
                    message.id,
                    message.message_sid,
                    pipeline=pipe,
                    at_front=True,
                    alone=True,
                )
            pipe.execute()
    except redis.RedisError as exc:
        log.warning(
            "could not queue %s taken message(s) again (%s); the sweeper will", len(messages), exc
        )
