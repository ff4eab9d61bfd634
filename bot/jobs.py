"""The worker's jobs. Each takes ids, is safe to run twice, and raises on failure.

``process_inbound`` handles a message in one transaction: the claim (status received →
done), the handler's writes, the ledger append and the outbound rows commit together or not
at all, so a crash at any point leaves the message to be redone from scratch. Sending is a
separate job per outbound row, because a text handed to Twilio cannot be taken back: it is
claimed (pending → sending) and committed *before* the API call, so no crash or retry can
send it twice.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime, timedelta

import requests
from rq import get_current_job
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException

from bot import failpoints, logs, metrics, outbox, rate_limit
from bot import services as services_module
from bot.addresses import format_address, mask
from bot.handlers import dispatch
from bot.handlers.context import Context, Notice, Outcome
from bot.models import Contact, InboundMessage, OutboundMessage
from bot.moderators import is_moderator
from bot.parsing import parse
from bot.queueing import MAX_SEND_ATTEMPTS, try_enqueue_sends
from bot.rate_limit import Verdict
from ledger.db import insert_ignoring_conflicts, transaction
from ledger.pseudonym import pseudonym

log = logging.getLogger(__name__)

OPTED_OUT = 21610
RETRYABLE_HTTP = {429, 500, 502, 503, 504}
WHATSAPP_WINDOW = timedelta(hours=24)


class TransientSendError(RuntimeError):
    """Twilio could not take the message now; RQ retries the job with backoff."""


def now() -> datetime:
    return datetime.now(UTC)


def observed(function):
    """Log lines inside the job carry its RQ job id (and MessageSid); its duration is recorded."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        job = get_current_job()
        job_id = job.id if job is not None else None
        sid = job_id.removeprefix("inbound-") if job_id and job_id.startswith("inbound-") else None
        with (
            logs.context(message_sid=sid, job_id=job_id),
            metrics.job_timer(function.__name__, services_module.current),
        ):
            return function(*args, **kwargs)

    return wrapper


@observed
def process_inbound(inbound_id: int) -> str:
    services = services_module.current()
    with transaction(services.sessions) as session:
        claimed = session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == inbound_id, InboundMessage.status == "received")
            .values(status="done", processed_at=now())
        ).rowcount
        if claimed:
            inbound = session.get(InboundMessage, inbound_id)
            logs.bind(message_sid=inbound.message_sid)
            command = parse(inbound.body)
            inbound.command = type(command).__name__
            ctx = _context(session, services, inbound)
            verdict = _rate_limit(services, ctx)
            if verdict is Verdict.OK:
                outcome = dispatch(command, ctx)
            else:
                inbound.command = f"RateLimited({inbound.command})"
                outcome = Outcome(rate_limit.NOTICE if verdict is Verdict.NOTICE else None)
            new_sends = _store_outcome(session, services, ctx, outcome)
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
    try_enqueue_sends(services.queue, list(new_sends))
    return "handled" if claimed else "already handled"


def _rate_limit(services, ctx: Context) -> Verdict:
    if ctx.is_moderator:
        return Verdict.OK
    settings = services.settings
    return rate_limit.check(
        services.redis,
        f"{ctx.inbound.channel}:{ctx.pseudonym}",  # no phone numbers in Redis keys
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
    )


def _store_outcome(session: Session, services, ctx: Context, outcome: Outcome) -> list[int]:
    """Outbox rows for the reply and notices; their ids, to queue once committed."""
    inbound = ctx.inbound
    messages: list[Notice] = []
    if outcome.reply:
        messages.append(
            Notice(
                inbound.channel,
                inbound.from_number,
                outcome.reply,
                f"reply:{inbound.id}",
                outcome.reply_kind,
            )
        )
    added = [
        outbox.add(
            session,
            services.settings,
            message,
            inbound_id=inbound.id,
            inbound_to=inbound.to_number,
            max_segments=outcome.max_segments if index == 0 else None,
        )
        for index, message in enumerate(messages + outcome.notices)
    ]
    return [outbound_id for outbound_id in added if outbound_id is not None]


def _claim_send(services, outbound_id: int) -> OutboundMessage | None:
    """Pending → sending, committed, or None when there is nothing (more) to send."""
    with transaction(services.sessions) as session:
        row = session.execute(
            select(OutboundMessage, InboundMessage.message_sid)
            .outerjoin(InboundMessage, OutboundMessage.inbound_id == InboundMessage.id)
            .where(OutboundMessage.id == outbound_id)
            .with_for_update(of=OutboundMessage)
        ).one_or_none()
        if row is None or row[0].status != "pending":
            return None
        message, message_sid = row
        logs.bind(message_sid=message_sid)  # the send's log lines name the text it answers
        contact = session.scalar(
            select(Contact).where(
                Contact.channel == message.channel, Contact.number == message.to_number
            )
        )
        if contact is not None and contact.opted_out and message.kind != "opt_out_confirmation":
            message.status, message.error_message = "suppressed", "recipient opted out"
            return None
        if message.channel == "whatsapp" and not _in_session_window(contact):
            template = services.settings.twilio_whatsapp_template_sid
            if not template:
                message.status = "not_sent"
                message.error_message = (
                    "outside the WhatsApp 24-hour window and no TWILIO_WHATSAPP_TEMPLATE_SID"
                )
                return None
            message.content_sid = template
            message.content_variables = json.dumps({"1": message.body}, ensure_ascii=False)
        if services.twilio is None:
            message.status = "logged"
            log.info("dev mode, not sent: to %s: %s", mask(message.to_number), message.body[:200])
            return None
        message.status = "sending"
        message.attempts += 1
        return message


def _in_session_window(contact: Contact | None) -> bool:
    """WhatsApp allows free-form texts only within 24 hours of the person's last message."""
    if contact is None or contact.last_inbound_at is None:
        return False
    last = contact.last_inbound_at
    if last.tzinfo is None:  # SQLite keeps no zone; everything stored is UTC
        last = last.replace(tzinfo=UTC)
    return now() - last <= WHATSAPP_WINDOW


@observed
def send_outbound(outbound_id: int) -> str:
    services = services_module.current()
    message = _claim_send(services, outbound_id)
    if message is None:
        return "nothing to send"
    settings = services.settings
    params = {
        "to": format_address(message.channel, message.to_number),
        "from_": format_address(message.channel, message.from_number or ""),
    }
    if message.content_sid:
        params["content_sid"] = message.content_sid
        params["content_variables"] = message.content_variables
    else:
        params["body"] = message.body
    if settings.public_url:
        params["status_callback"] = settings.public_url.rstrip("/") + "/twilio/status"
    failpoints.hit("before_send")
    try:
        sent = services.twilio.messages.create(**params)
    except TwilioRestException as exc:
        return _record_failure(services, message, exc.status, exc.code, exc.msg)
    except requests.ReadTimeout:
        # Twilio may have accepted it: sending again could double it. The row stays
        # "sending" and the sweeper asks Twilio's message list what happened (reconcile).
        log.warning("outbound %s: Twilio did not answer in time; will reconcile", outbound_id)
        return "unconfirmed"
    except requests.ConnectionError as exc:  # never reached Twilio: safe to retry
        return _record_failure(services, message, None, None, f"network: {exc}")
    failpoints.hit("after_send")
    with transaction(services.sessions) as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == outbound_id)
            .values(status=sent.status or "queued", twilio_sid=sent.sid, updated_at=now())
        )
    log.info("outbound %s sent to %s as %s", outbound_id, mask(message.to_number), sent.sid)
    return "sent"


def _record_failure(services, message: OutboundMessage, status, code, text) -> str:
    retryable = code != OPTED_OUT and (status is None or status in RETRYABLE_HTTP)
    final = not retryable or message.attempts >= MAX_SEND_ATTEMPTS
    with transaction(services.sessions) as session:
        values = {"error_code": code, "error_message": str(text)[:500], "updated_at": now()}
        values["status"] = "failed" if final else "pending"
        session.execute(
            update(OutboundMessage).where(OutboundMessage.id == message.id).values(**values)
        )
        if code == OPTED_OUT:
            session.execute(
                update(Contact)
                .where(Contact.channel == message.channel, Contact.number == message.to_number)
                .values(opted_out=True, opted_out_at=now())
            )
    log.warning(
        "outbound %s to %s failed (HTTP %s, code %s, attempt %s)%s",
        message.id,
        mask(message.to_number),
        status,
        code,
        message.attempts,
        "" if final else "; will retry",
    )
    if final:
        return "failed"
    raise TransientSendError(f"Twilio HTTP {status} code {code}: {text}")
