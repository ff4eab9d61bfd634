"""The inbound job: one message handled in one transaction, and its reply sent by the same job.

First a look without writing (the message, its command, whether the sender moderates): that
is all the work that talks to the network — fetching an evidence item's files from Twilio
(``bot.worker.media``) and the rate limit's Redis round trip — so none of it happens while
the database's write lock is held. Then one transaction: the claim (status received → done,
with the command's name, in one UPDATE), one contact upsert, the handler's writes, the ledger
append and the outbox rows commit together or not at all, so a crash at any point leaves the
message to be redone from scratch. After the commit, notices to other people and deletes of
Twilio's copies are queued as jobs of their own (one Redis round trip), and the reply is sent
right here by the same exactly-once path the send job uses (``bot.worker.sending``): its row
is claimed and committed before Twilio is called, and a failed send becomes a send job with
back-off. One job per message, in the common case: RQ's own bookkeeping per job was ~40% of
the worker's CPU when every reply was a second job. Under a backlog, a job also takes along
the next messages whose jobs are still waiting (``bot.worker.take_along``) and handles them in
the same transaction, each with its own claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.handlers import dispatch
from bot.handlers.context import Context, Outcome
from bot.handlers.unknown import NOT_KEPT_NOTE
from bot.media.collect import forget
from bot.messaging import outbox
from bot.messaging.addresses import mask
from bot.messaging.contacts import contact_for
from bot.messaging.models import Contact, InboundMessage, OutboundMessage
from bot.messaging.outbox import Notice
from bot.messaging.queueing import enqueue_new, try_enqueue_media_deletes, try_enqueue_sends
from bot.moderation.accounts import is_moderator, moderators_among
from bot.ops import logs, metrics
from bot.ops import services as services_module
from bot.parsing import Ingest, parse_message
from bot.worker import failpoints, rate_limit
from bot.worker.media import fetch_files, pending_copies, record_twilio_copies, store_of
from bot.worker.observe import now, observed
from bot.worker.rate_limit import Verdict
from bot.worker.sending import deliver_replies
from bot.worker.take_along import MUST_RUN_ALONE, give_back, take_along
from ledger.db import transaction
from ledger.decisions import paste_digest_key
from ledger.pseudonym import pseudonym

log = logging.getLogger(__name__)


@dataclass
class _Seen:
    """What the message is, read before any write: enough to fetch its files and check its
    rate limit (HTTP and Redis) without holding the database's write lock."""

    inbound: InboundMessage
    command: Any
    is_moderator: bool
    handle: str


@dataclass
class _Handled:
    """One message's part of the transaction: what it committed and what is left to do."""

    outcome: Outcome
    replies: list[int]
    notices: list[int]
    copies: list[int]


@observed
def process_inbound(inbound_id: int) -> str:
    failpoints.hit("inbound_started")
    services = services_module.current()
    seen = _look(services, inbound_id)
    if seen is None:
        return _rerun(services, inbound_id)
    logs.bind(message_sid=seen.inbound.message_sid)
    batch = [seen, *_look_taken(services, take_along(services, seen.inbound))]
    try:
        handled = _handle(services, batch)
    except Exception:
        if len(batch) == 1:
            raise
        log.warning("a batch of %s messages failed; handling %s alone", len(batch), inbound_id)
        give_back(services, [s.inbound for s in batch[1:]])
        handled = _handle(services, [seen])
    failpoints.hit("after_commit")
    if handled[0] is None:  # another run got there between our look and our claim
        _rerun(services, inbound_id)
    done = [h for h in handled if h is not None]
    metrics.count_handled(services, len(done))
    if forgotten := [sha for h in done for sha in h.outcome.forget_media]:
        with services.read_sessions() as session:
            forget(session, store_of(services.settings), forgotten)
    # New rows: no job of theirs can exist yet, so queue them without asking RQ (one round
    # trip), then send the replies from this job — the claim-before-call commit keeps them once.
    enqueue_new(
        services.queue,
        sends=[i for h in done for i in h.notices],
        media_deletes=[i for h in done for i in h.copies],
    )
    deliver_replies(services, [i for h in done for i in h.replies])
    return "handled" if handled[0] is not None else "already handled"


def _handle(services, batch: list[_Seen]) -> list[_Handled | None]:
    """The network's part first (rate limits, the job's own files), then one transaction for
    every message of the batch: None for a message some other run claimed first.

    Locks are taken in one order, whatever the batch: the messages' claims (by id), then
    their senders' contacts (sorted), and only then the handlers, whose first ledger append
    locks the head. A transaction of one message takes them in that same order, so two
    workers' transactions on PostgreSQL wait for each other instead of deadlocking (a batch
    that upserted each contact as it came to it could hold the head while wanting a contact
    that a one-message transaction held while wanting the head)."""
    own = batch[0]
    verdicts = _rate_limits(services, batch)
    items = list(own.inbound.media or [])
    files = None
    if items and verdicts[0] is Verdict.OK and isinstance(own.command, Ingest):
        files = fetch_files(services, items, own.inbound.message_sid)  # evidence: files first
    with transaction(services.sessions) as session:
        claimed = [(s, v) for s, v in zip(batch, verdicts, strict=True) if _claim(session, s, v)]
        contacts = _contacts(session, [s for s, _ in claimed])
        handled = {
            s.inbound.id: _handle_one(
                session, services, s, v, files if s is own else None, contacts
            )
            for s, v in claimed
        }
        failpoints.hit("before_commit")
    logs.bind(message_sid=own.inbound.message_sid)
    return [handled.get(s.inbound.id) for s in batch]


def _command_name(seen: _Seen, verdict: Verdict) -> str:
    name = type(seen.command).__name__
    return name if verdict is Verdict.OK else f"RateLimited({name})"


def _claim(session: Session, seen: _Seen, verdict: Verdict) -> bool:
    """received → done, with the command's name, in one UPDATE: False if another run did."""
    return bool(
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == seen.inbound.id, InboundMessage.status == "received")
            .values(status="done", processed_at=now(), command=_command_name(seen, verdict))
        ).rowcount
    )


def _contacts(session: Session, claimed: list[_Seen]) -> dict[tuple[str, str], Contact]:
    """Each sender's contact, one upsert each, in (channel, number) order; a sender of several
    messages is upserted with the latest (its time is the contact's last inbound)."""
    latest = {(s.inbound.channel, s.inbound.from_number): s for s in claimed}
    return {key: contact_for(session, s.inbound, s.handle) for key, s in sorted(latest.items())}


def _handle_one(session: Session, services, seen: _Seen, verdict: Verdict, files, contacts):
    """One claimed message: its handler, its outbox rows, its Twilio copies."""
    inbound = seen.inbound
    logs.bind(message_sid=inbound.message_sid)  # its handler's log lines name it
    items = list(inbound.media or [])
    contact = contacts[(inbound.channel, inbound.from_number)]
    ctx = _context(session, services, seen, files or [], contact)
    if verdict is Verdict.OK:
        outcome = _not_kept_said(dispatch(seen.command, ctx), items)
    else:
        outcome = Outcome(rate_limit.NOTICE if verdict is Verdict.NOTICE else None)
    replies, notices = _store_outcome(session, services, ctx, outcome)
    settings = services.settings
    copies = record_twilio_copies(session, settings, inbound.id, inbound.message_sid, items)
    log.info(
        "inbound %s from %s handled as %s",
        inbound.message_sid,
        mask(inbound.from_number),
        _command_name(seen, verdict),
    )
    return _Handled(outcome, replies, notices, copies)


def _look(services, inbound_id: int) -> _Seen | None:
    with services.read_sessions() as session:
        inbound = session.get(InboundMessage, inbound_id)
        if inbound is None or inbound.status != "received":
            return None
        moderator = is_moderator(session, services.settings, inbound.from_number)
    return _seen(services, inbound, moderator)


def _look_taken(services, taken: list[InboundMessage]) -> list[_Seen]:
    """The taken messages, looked at as :func:`_look` does; those whose commands must run
    alone (``take_along.MUST_RUN_ALONE``) are given back at once, as jobs of their own."""
    if not taken:
        return []
    with services.read_sessions() as session:
        numbers = {inbound.from_number for inbound in taken}
        moderators = moderators_among(session, services.settings, numbers)
    seen = [_seen(services, inbound, inbound.from_number in moderators) for inbound in taken]
    alone = [s for s in seen if isinstance(s.command, MUST_RUN_ALONE)]
    give_back(services, [s.inbound for s in alone])
    return [s for s in seen if s not in alone]


def _seen(services, inbound: InboundMessage, moderator: bool) -> _Seen:
    # Buttons are WhatsApp's; on SMS a ButtonPayload is not something a phone sends.
    payload = inbound.button_payload if inbound.channel == "whatsapp" else None
    command = parse_message(inbound.body, payload, has_media=bool(inbound.media))
    return _Seen(inbound, command, moderator, pseudonym(inbound.from_number, services.secret_key))


def _not_kept_said(outcome: Outcome, items: list) -> Outcome:
    """Files came with a message that kept none of them (a question, an ingest that could not
    be queued): the reply says so, rather than dropping them in silence."""
    if items and not outcome.files_answered and outcome.reply:
        outcome.reply = f"{outcome.reply}\n{NOT_KEPT_NOTE}"
    return outcome


def _rerun(services, inbound_id: int) -> str:
    """Handled before (a retry, a sweep, a race): queue whatever that run committed but never
    queued — sends still pending, Twilio copies still there."""
    with services.read_sessions() as session:
        sends = session.scalars(
            select(OutboundMessage.id).where(
                OutboundMessage.inbound_id == inbound_id, OutboundMessage.status == "pending"
            )
        ).all()
        copies = pending_copies(session, inbound_id)
    try_enqueue_sends(services.queue, list(sends))
    try_enqueue_media_deletes(services.queue, copies)
    return "already handled"


def _rate_limits(services, batch: list[_Seen]) -> list[Verdict]:
    """Each message's rate-limit verdict (moderators are not limited), in one round trip."""
    settings = services.settings
    limited = [s for s in batch if not s.is_moderator]
    verdicts = rate_limit.check_many(
        services.redis,
        settings.redis_key("rl"),
        # per number, whichever channel; and no phone numbers in Redis keys
        [(s.handle, s.inbound.body, s.inbound.message_sid) for s in limited],
        limit=settings.rate_limit_count,
        window_s=settings.rate_limit_window_s,
    )
    by_id = {s.inbound.id: v for s, v in zip(limited, verdicts, strict=True)}
    return [by_id.get(s.inbound.id, Verdict.OK) for s in batch]


def _context(session: Session, services, seen: _Seen, files: list[dict], contact) -> Context:
    inbound = seen.inbound
    return Context(
        session=session,
        settings=services.settings,
        contact=contact,
        inbound=inbound,
        pseudonym=seen.handle,
        is_moderator=seen.is_moderator,
        now=now(),
        paste_key=paste_digest_key(services.secret_key),
        log_key=services.log_key,
        media=files,
    )


def _store_outcome(
    session: Session, services, ctx: Context, outcome: Outcome
) -> tuple[list[int], list[int]]:
    """Outbox rows for the reply and for notices to others; their ids, (replies, notices)."""
    inbound = ctx.inbound
    settings = services.settings
    replies: list[int] = []
    if outcome.reply:
        reply = Notice(
            inbound.channel,
            inbound.from_number,
            outcome.reply,
            f"reply:{inbound.id}",
            outcome.reply_kind,
            outcome.buttons,
        )
        replies = outbox.store(
            session,
            settings,
            [reply],
            inbound_id=inbound.id,
            inbound_to=inbound.to_number,
            max_segments=outcome.max_segments,
        )
    notices = outbox.store(
        session, settings, outcome.notices, inbound_id=inbound.id, inbound_to=inbound.to_number
    )
    return replies, notices
