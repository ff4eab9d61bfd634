"""The inbound job: one message handled in one transaction.

The claim (status received → done), the handler's writes, the ledger append and the outbound
rows commit together or not at all, so a crash at any point leaves the message to be redone
from scratch. Replies are sent by their own jobs (``bot.worker.sending``), queued after the
commit. Evidence that came with files has them fetched and stored first, outside any
transaction (``bot.worker.media``); Twilio's copies are deleted by their own jobs after it.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.handlers import dispatch
from bot.handlers.context import Context, Outcome
from bot.media.collect import forget
from bot.messaging import outbox
from bot.messaging.addresses import mask
from bot.messaging.models import Contact, InboundMessage, OutboundMessage
from bot.messaging.outbox import Notice
from bot.messaging.queueing import try_enqueue_media_deletes, try_enqueue_sends
from bot.moderation.accounts import is_moderator
from bot.ops import logs
from bot.ops import services as services_module
from bot.parsing import Ingest, parse_message
from bot.worker import failpoints, rate_limit
from bot.worker.media import fetch_files, pending_copies, record_twilio_copies, store_of
from bot.worker.observe import now, observed
from bot.worker.rate_limit import Verdict
from ledger.db import insert_ignoring_conflicts, transaction
from ledger.decisions import paste_digest_key
from ledger.pseudonym import pseudonym

log = logging.getLogger(__name__)


class _FilesFirst(Exception):
    """The message is evidence with files, not yet fetched: roll back and fetch them first."""

    def __init__(self, items: list[dict], message_sid: str) -> None:
        super().__init__()
        self.items, self.message_sid = items, message_sid


@observed
def process_inbound(inbound_id: int) -> str:
    failpoints.hit("inbound_started")
    services = services_module.current()
    try:
        return _process(services, inbound_id, None)
    except _FilesFirst as needed:  # fetched outside any transaction (bot.worker.media)
        files = fetch_files(services, needed.items, needed.message_sid)
        return _process(services, inbound_id, files)


def _process(services, inbound_id: int, files: list[dict] | None) -> str:
    with transaction(services.sessions) as session:
        claimed = session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == inbound_id, InboundMessage.status == "received")
            .values(status="done", processed_at=now())
        ).rowcount
        if claimed:
            inbound = session.get(InboundMessage, inbound_id)
            logs.bind(message_sid=inbound.message_sid)
            items = list(inbound.media or [])
            command = parse_message(inbound.body, inbound.button_payload, has_media=bool(items))
            if items and files is None and isinstance(command, Ingest):
                raise _FilesFirst(items, inbound.message_sid)
            inbound.command = type(command).__name__
            ctx = _context(session, services, inbound)
            ctx.media = files or []
            verdict = _rate_limit(services, ctx)
            if verdict is Verdict.OK:
                outcome = dispatch(command, ctx)
            else:
                inbound.command = f"RateLimited({inbound.command})"
                outcome = Outcome(rate_limit.NOTICE if verdict is Verdict.NOTICE else None)
            new_sends = _store_outcome(session, services, ctx, outcome)
            copies = record_twilio_copies(
                session, services.settings, inbound_id, inbound.message_sid, items
            )
            failpoints.hit("before_commit")
            log.info(
                "inbound %s from %s handled as %s",
                inbound.message_sid,
                mask(inbound.from_number),
                inbound.command,
            )
    failpoints.hit("after_commit")
    if not claimed:  # a re-run: queue whatever the first run committed but never queued
        with services.read_sessions() as session:
            new_sends = session.scalars(
                select(OutboundMessage.id).where(
                    OutboundMessage.inbound_id == inbound_id, OutboundMessage.status == "pending"
                )
            ).all()
            copies = pending_copies(session, inbound_id)
    elif outcome.forget_media:
        with services.read_sessions() as session:
            forget(session, store_of(services.settings), outcome.forget_media)
    try_enqueue_sends(services.queue, list(new_sends))
    try_enqueue_media_deletes(services.queue, copies)
    return "handled" if claimed else "already handled"


def _rate_limit(services, ctx: Context) -> Verdict:
    if ctx.is_moderator:
        return Verdict.OK
    settings = services.settings
    return rate_limit.check(
        services.redis,
        settings.redis_key("rl"),
        ctx.pseudonym,  # per number, whichever channel; and no phone numbers in Redis keys
        ctx.inbound.body,
        ctx.inbound.message_sid,
        limit=settings.rate_limit_count,
        window_s=settings.rate_limit_window_s,
    )


def _context(session: Session, services, inbound: InboundMessage) -> Context:
    settings = services.settings
    handle = pseudonym(inbound.from_number, services.secret_key)
    insert_ignoring_conflicts(
        session,
        Contact.__table__,
        {
            "channel": inbound.channel,
            "number": inbound.from_number,
            "pseudonym": handle,
            "opted_out": False,
            "created_at": now(),
        },
    )
    contact = session.scalars(
        select(Contact)
        .where(Contact.channel == inbound.channel, Contact.number == inbound.from_number)
        .with_for_update()
    ).one()
    contact.last_inbound_at = inbound.received_at
    return Context(
        session=session,
        settings=settings,
        contact=contact,
        inbound=inbound,
        pseudonym=handle,
        is_moderator=is_moderator(session, settings, inbound.from_number),
        now=now(),
        paste_key=paste_digest_key(services.secret_key),
        log_key=services.log_key,
    )


def _store_outcome(session: Session, services, ctx: Context, outcome: Outcome) -> list[int]:
    """Outbox rows for the reply and notices; their ids, to queue once committed."""
    inbound = ctx.inbound
    settings = services.settings
    ids: list[int] = []
    if outcome.reply:
        reply = Notice(
            inbound.channel,
            inbound.from_number,
            outcome.reply,
            f"reply:{inbound.id}",
            outcome.reply_kind,
            outcome.buttons,
        )
        ids = outbox.store(
            session,
            settings,
            [reply],
            inbound_id=inbound.id,
            inbound_to=inbound.to_number,
            max_segments=outcome.max_segments,
        )
    return ids + outbox.store(
        session, settings, outcome.notices, inbound_id=inbound.id, inbound_to=inbound.to_number
    )
