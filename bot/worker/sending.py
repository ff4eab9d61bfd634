"""Sending: one outbound row handed to Twilio, exactly once.

A text handed to Twilio cannot be taken back, so the row is claimed (pending → sending) and
committed *before* the API call: no crash or retry can send it twice. A send whose answer was
lost is reconciled by the sweeper against Twilio's message list, never simply resent.

``deliver`` is that path. The inbound job calls it for the reply it has just committed
(``deliver_reply``: one job per message); the send job (``send_outbound``) runs it for
notices to other people, for retries, and for whatever the sweeper finds still pending.
"""

from __future__ import annotations

import contextvars
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta

import redis
import requests
from sqlalchemy import null, select, update
from twilio.base.exceptions import TwilioRestException

from bot.messaging.addresses import format_address, mask
from bot.messaging.models import CHANNELS, Contact, InboundMessage, OutboundMessage
from bot.messaging.queueing import MAX_SEND_ATTEMPTS, SEND_RETRY, enqueue_send
from bot.ops import logs
from bot.ops import services as services_module
from bot.worker import failpoints
from bot.worker.observe import now, observed
from ledger.db import transaction

log = logging.getLogger(__name__)

OPTED_OUT = 21610
RETRYABLE_HTTP = {429, 500, 502, 503, 504}
WHATSAPP_WINDOW = timedelta(hours=24)
# A batch's replies go out over this many connections at once (deliver_replies).
SEND_THREADS = 4


class TransientSendError(RuntimeError):
    """Twilio could not take the message now; RQ retries the job with backoff."""


def _claim_send(services, outbound_id: int) -> OutboundMessage | None:
    """Pending → sending, committed, or None when there is nothing (more) to send."""
    with transaction(services.sessions) as session:
        claimed = _claim(session, services, [outbound_id])
    return claimed[0][0] if claimed else None


def _claim(session, services, outbound_ids: list[int]) -> list[tuple[OutboundMessage | None, str]]:
    """:func:`_claim_send`'s work for several rows inside the caller's transaction, in three
    statements however many rows: for each pending row, the row claimed (None when it is not
    to be sent after all: opted out, outside WhatsApp's window, dev mode) and the MessageSid
    of the text it answers."""
    rows = session.execute(
        select(OutboundMessage, InboundMessage.message_sid)
        .outerjoin(InboundMessage, OutboundMessage.inbound_id == InboundMessage.id)
        .where(OutboundMessage.id.in_(outbound_ids))
        .with_for_update(of=OutboundMessage)
    ).all()
    pending = {message.id: (message, sid) for message, sid in rows if message.status == "pending"}
    if not pending:
        return []
    numbers = {message.to_number for message, _ in pending.values()}
    # Every channel's contact of each number: consent is the person's, not the channel's
    # (STOP by SMS also silences WhatsApp).
    contacts = session.scalars(
        select(Contact).where(Contact.channel.in_(CHANNELS), Contact.number.in_(numbers))
    ).all()
    by_address = {(c.channel, c.number): c for c in contacts}
    opted_out = {c.number for c in contacts if c.opted_out}
    claimed = []
    for outbound_id in outbound_ids:
        if outbound_id in pending:
            message, message_sid = pending.pop(outbound_id)
            logs.bind(message_sid=message_sid)  # the send's log lines name the text it answers
            contact = by_address.get((message.channel, message.to_number))
            stopped = message.to_number in opted_out
            claimed.append((_decide(services, message, contact, stopped), message_sid))
    return claimed


def _decide(services, message: OutboundMessage, contact: Contact | None, stopped: bool):
    """Claim ``message`` (pending → sending) or settle why it is not sent."""
    if message.kind != "opt_out_confirmation" and stopped:
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
        # The approved template wins over quick-reply buttons: none can be sent now.
        message.content_sid = template
        message.content_variables = json.dumps({"1": message.body}, ensure_ascii=False)
        message.buttons = null()  # SQL NULL, as rows without buttons have (not JSON null)
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
    return deliver(services_module.current(), outbound_id)


def deliver_reply(services, outbound_id: int) -> str:
    """Send a reply from the job that wrote it (``bot.worker.inbound``): the same claim, call
    and record as the send job; a send Twilio could not take now becomes that job, with its
    first back-off, rather than failing the message."""
    try:
        return deliver(services, outbound_id)
    except TransientSendError as exc:
        return _retry_later(services, outbound_id, exc)


def deliver_replies(services, outbound_ids: list[int]) -> None:
    """The replies of several messages handled together (``bot.worker.take_along``): the
    same exactly-once path as :func:`deliver`, with one claim commit for all of them before
    any call and one record commit after the calls, rather than two commits per reply. The
    calls go out over SEND_THREADS connections at once, one person's replies one after the
    other, in order (a person's answer before their HELP's). A crash between a call and the
    record leaves that row "sending", which the sweeper reconciles against Twilio's message
    list, as after any lost answer; it waits long enough for a row claimed behind a whole
    batch of calls (``bot.worker.sweeper.stuck_sending``)."""
    if len(outbound_ids) <= 1:
        for outbound_id in outbound_ids:
            deliver_reply(services, outbound_id)
        return
    failpoints.hit("send_started")
    with transaction(services.sessions) as session:
        claimed = [(m, sid) for m, sid in _claim(session, services, outbound_ids) if m]
    by_person: dict[tuple[str, str], list] = {}
    for message, message_sid in claimed:
        key = (message.channel, message.to_number)
        by_person.setdefault(key, []).append((message, message_sid))
    if not by_person:
        return
    with ThreadPoolExecutor(min(SEND_THREADS, len(by_person))) as pool:
        calls = [
            pool.submit(contextvars.copy_context().run, _post_in_turn, services, rows)
            for rows in by_person.values()
        ]
        done = [call.result() for call in calls]  # _post_in_turn never raises
    _record_sent(services, [pair for sent, _ in done for pair in sent])
    for _, error in done:
        if error is not None:
            raise error  # after recording what Twilio took: the job fails, as deliver would


def _post_in_turn(services, rows: list) -> tuple[list, Exception | None]:
    """One person's claimed replies, in order: what Twilio took, and the unexpected error that
    stopped them (their later rows stay "sending" for the sweeper to reconcile)."""
    sent = []
    for message, message_sid in rows:
        logs.bind(message_sid=message_sid)
        try:
            outcome = _post(services, message)
        except TransientSendError as exc:
            _retry_later(services, message.id, exc)
            continue
        except Exception as exc:  # deliver_replies raises it once the others are recorded
            log.exception("outbound %s: unexpected error from the send", message.id)
            return sent, exc
        if not isinstance(outcome, str):
            sent.append((message, outcome))
    return sent, None


def _retry_later(services, outbound_id: int, exc: Exception) -> str:
    log.warning("outbound %s: %s; retrying as a send job", outbound_id, exc)
    try:
        enqueue_send(services.queue, outbound_id, in_s=SEND_RETRY.intervals[0])
    except redis.RedisError as lost:  # the sweeper queues pending rows it finds
        log.warning("could not queue outbound %s (%s); the sweeper will", outbound_id, lost)
    return "retrying"


def deliver(services, outbound_id: int) -> str:
    """One outbound row to Twilio, exactly once (see the module docstring)."""
    failpoints.hit("send_started")
    message = _claim_send(services, outbound_id)
    if message is None:
        return "nothing to send"
    outcome = _post(services, message)
    if isinstance(outcome, str):
        return outcome
    _record_sent(services, [(message, outcome)])
    return "sent"


def _post(services, message: OutboundMessage):
    """The API call for a claimed row: Twilio's message, or what became of the row instead
    (a string) when Twilio refused it or did not answer; raises TransientSendError when the
    send is to be retried."""
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
        if exc.status == 400 and _quick_reply(settings, message):
            return _resend_as_text(services, message, exc)
        return _record_failure(services, message, exc.status, exc.code, exc.msg)
    except requests.ReadTimeout:
        # Twilio may have accepted it: sending again could double it. The row stays
        # "sending" and the sweeper asks Twilio's message list what happened (reconcile).
        log.warning("outbound %s: Twilio did not answer in time; will reconcile", message.id)
        return "unconfirmed"
    except requests.ConnectionError as exc:  # never reached Twilio: safe to retry
        return _record_failure(services, message, None, None, f"network: {exc}")
    failpoints.hit("after_send")
    return sent


def _record_sent(services, sent: list) -> None:
    """Twilio's SID and status on each row it took, in one commit."""
    if not sent:
        return
    stamp = now()
    rows = [
        {"id": m.id, "status": a.status or "queued", "twilio_sid": a.sid, "updated_at": stamp}
        for m, a in sent
    ]
    with transaction(services.sessions) as session:
        session.execute(update(OutboundMessage), rows)  # by primary key: one executemany
    for message, answer in sent:
        log.info("outbound %s sent to %s as %s", message.id, mask(message.to_number), answer.sid)


def _quick_reply(settings, message: OutboundMessage) -> bool:
    sids = (settings.twilio_review_content_sid, settings.twilio_answer_content_sid)
    return bool(message.content_sid) and message.content_sid in sids


def _resend_as_text(services, message: OutboundMessage, exc: TwilioRestException) -> str:
    """Twilio refused the quick reply (a template not approved, a variable WhatsApp will not
    take): the same text goes as plain text, with what to type, once. Refused, nothing was sent,
    so sending the text cannot double it."""
    log.warning(
        "outbound %s: quick reply refused (code %s); sending it as text", message.id, exc.code
    )
    with transaction(services.sessions) as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message.id, OutboundMessage.status == "sending")
            .values(
                status="pending",
                content_sid=None,
                content_variables=None,
                error_code=exc.code,
                error_message=f"quick reply refused, sent as text: {exc.msg}"[:500],
                updated_at=now(),
            )
        )
    return deliver(services, message.id)


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
