"""Twilio's webhooks: inbound messages and delivery status callbacks.

The inbound path is: check the signature, validate, store the message and commit, then
queue its job and answer. Storing comes first so that nothing acknowledged to Twilio can
be lost; if Redis is down the sweeper queues it later. If the database is down we answer
503 so that Twilio retries rather than believing we kept a message we did not.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime

import redis
from flask import Blueprint, Response, abort, g, request
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bot.messaging.addresses import AddressError, mask, parse_twilio_address
from bot.messaging.models import InboundMessage, OutboundMessage
from bot.messaging.queueing import enqueue_inbound
from bot.messaging.sids import MESSAGE_SID
from bot.ops import logs, metrics
from bot.ops.services import current as current_services
from bot.web import twilio_form
from bot.web.signature import twilio_signed
from ledger.db import insert_ignoring_conflicts, transaction

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_BODY = 10_000
MAX_MEDIA = 10
MAX_MEDIA_URL = 512  # Twilio's are ~150 characters; longer is not one of theirs
MAX_BUTTON_PAYLOAD = 256  # ours are ~20 characters (bot.parsing.buttons)
TOKEN = re.compile(r"[\x21-\x7e]{1,128}")
ERROR_CODE = re.compile(r"[0-9]{1,9}")
# Later statuses never move a message back (callbacks can arrive out of order).
STATUS_RANK = {
    "pending": 0,
    "sending": 1,
    "accepted": 2,
    "scheduled": 2,
    "queued": 3,
    "sent": 4,
    "failed": 5,
    "undelivered": 5,
    "delivered": 6,
    "read": 7,
}


# Outcomes of an inbound webhook that the view did not set (signature check, 413, a crash).
OUTCOME_BY_STATUS = {400: "bad_request", 403: "bad_signature", 413: "bad_request"}


@bp.before_request
def _start_timer() -> None:
    """Registered first, so the webhook-duration histogram includes reading the form and
    checking the signature (and a 413 raised while reading it)."""
    g.webhook_started = time.perf_counter()


@bp.before_request
def _bind_message_sid() -> None:
    """Every log line about this request carries its MessageSid (when it has a sane one)."""
    sid = request.form.get("MessageSid") or request.form.get("SmsMessageSid")
    logs.bind(message_sid=sid or "")


@bp.after_request
def _count(response: Response) -> Response:
    """Count the inbound webhook by outcome and observe its duration (one Redis round trip)."""
    if request.endpoint == "twilio.inbound":
        started = g.pop("webhook_started", None)
        outcome = g.pop("webhook_outcome", None)
        outcome = outcome or OUTCOME_BY_STATUS.get(response.status_code, "error")
        seconds = None if started is None else time.perf_counter() - started
        metrics.record_webhook(current_services(), outcome, seconds)
    return response


@bp.teardown_request
def _unbind(_error=None) -> None:
    logs.clear()


def twiml() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


def bad_request(reason: str) -> Response:
    return Response(reason + "\n", status=400, mimetype="text/plain")


def _media(form) -> list[dict[str, str]]:
    """Every MediaUrl as sent, to be judged by the worker (``bot.media.fetch``), which fetches
    only Twilio's own links of this account and records why it refused any other."""
    try:
        count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    media = []
    for index in range(max(count, 0)):
        url = form.get(f"MediaUrl{index}", "").replace("\x00", "")
        if url:
            declared = form.get(f"MediaContentType{index}", "").replace("\x00", "")
            media.append({"url": url[:MAX_MEDIA_URL], "content_type": declared[:100]})
    return media


@bp.post("/messages")
@twilio_signed
def inbound():
    form = request.form
    services = current_services()
    try:
        twilio_form.check(form, services.settings.twilio_account_sid)
    except twilio_form.FormRefused as exc:
        log.warning("refused a signed webhook: %s", exc)
        return Response(f"{exc}\n", status=exc.status, mimetype="text/plain")
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid") or form["SmsSid"]
    try:
        channel, from_number = parse_twilio_address(form.get("From", ""))
        _, to_number = parse_twilio_address(form.get("To", ""))
    except AddressError:
        return bad_request("From and To must be phone numbers in E.164 form")
    # PostgreSQL text cannot hold NUL, and it has no business in the public ledger anyway.
    body = form.get("Body", "").replace("\x00", "\ufffd")
    if len(body) > MAX_BODY:
        return bad_request("Body is too long")
    button_payload = form.get("ButtonPayload", "").replace("\x00", "") or None
    if button_payload is not None and len(button_payload) > MAX_BUTTON_PAYLOAD:
        return bad_request("ButtonPayload is too long")
    token = request.headers.get("I-Twilio-Idempotency-Token") or None
    if token is not None and not TOKEN.fullmatch(token):
        return bad_request("I-Twilio-Idempotency-Token is malformed")
    try:
        with services.engine.begin() as conn:  # one row: a Core transaction, no ORM session
            inbound_id = insert_ignoring_conflicts(
                conn,
                InboundMessage.__table__,
                {
                    "message_sid": message_sid,
                    "idempotency_token": token,
                    "channel": channel,
                    "from_number": from_number,
                    "to_number": to_number,
                    "body": body,
                    "media": _media(form),
                    "button_payload": button_payload,
                    "status": "received",
                    "attempts": 0,
                    "received_at": datetime.now(UTC),
                },
            )
    except OperationalError as exc:
        log.error("database unavailable, asking Twilio to retry %s: %s", message_sid, exc.orig)
        g.webhook_outcome = "db_unavailable"
        return Response("database unavailable, retry later\n", status=503, mimetype="text/plain")
    if inbound_id is None:
        log.info("duplicate delivery of %s ignored", message_sid)
        g.webhook_outcome = "duplicate"
        return twiml()
    try:
        enqueue_inbound(services.queue, inbound_id, message_sid)
    except redis.RedisError as exc:
        log.warning("stored %s but could not queue it (%s); the sweeper will", message_sid, exc)
        g.webhook_outcome = "queue_unavailable"
        metrics.redis_failed(services)
    else:
        g.webhook_outcome = "stored"
    log.info("stored %s from %s (%s)", message_sid, mask(from_number), channel)
    return twiml()


@bp.post("/status")
@twilio_signed
def status():
    form = request.form
    try:
        twilio_form.check(form, current_services().settings.twilio_account_sid)
    except twilio_form.FormRefused as exc:
        return Response(f"{exc}\n", status=exc.status, mimetype="text/plain")
    message_sid = form.get("MessageSid") or form.get("SmsSid") or ""
    new_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not MESSAGE_SID.fullmatch(message_sid) or new_status not in STATUS_RANK:
        return bad_request("MessageSid and a known MessageStatus are required")
    error_code = form.get("ErrorCode")
    services = current_services()
    try:
        with transaction(services.sessions) as session:
            message = session.scalar(
                select(OutboundMessage).where(OutboundMessage.twilio_sid == message_sid)
            )
            if message is None:
                return Response(status=204)
            if STATUS_RANK[new_status] >= STATUS_RANK.get(message.status, 0):
                values = {"status": new_status}
                if error_code and ERROR_CODE.fullmatch(error_code):
                    values["error_code"] = int(error_code)
                session.execute(
                    update(OutboundMessage).where(OutboundMessage.id == message.id).values(**values)
                )
    except OperationalError:
        abort(503)
    return Response(status=204)
