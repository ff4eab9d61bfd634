"""The dev phone: several pretend phones in one page, talking to the bot through its webhook.

It exists only in dev mode (no Twilio credentials) or with ``DEV_PHONE=1``: it signs webhooks
with the auth token for whoever can open it, so otherwise it is never registered and every
``/dev/`` URL is a 404 (``app.py``'s blueprint table takes :func:`blueprints`).

A text goes in as Twilio sends it. ``POST /dev/phone/send`` (its CSRF token in
``X-CSRFToken``, checked by CSRFProtect like every POST of the app) builds the form with
:mod:`bot.messaging.signed_webhook`, as ``ledgerbot text`` does, and a thread POSTs it signed
over HTTP to the app's own URL (PUBLIC_URL, else the URL this request came in on): the webhook
view checks the signature, stores and queues it as for Twilio. A thread rather than a call
inside the request, because ``gunicorn_conf`` lets one request at a time into the app per
worker: a request waiting for its own webhook could be waiting for itself. So the view answers
202 with the MessageSid; the page sees the text once stored, and a webhook that refused it is
kept in Redis for an hour and shown as refused.

``GET /dev/phone/threads?number=…`` (repeatable) lists, per number, every text from it and
every outbox row to it — replies, receipts, moderator alerts, "new evidence" notices — with
status; the page's script (static, as the CSP requires) polls it every second.
``POST /dev/phone/moderator`` makes a number a moderator with the code of ``ledgerbot
moderators add``. A WhatsApp row's quick-reply buttons are listed with it and drawn under the
message, whether or not the Content templates are configured; a tap is sent as Twilio sends
one (``button_payload`` here becomes ``ButtonPayload``, the title ``ButtonText`` and Body).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from http.client import HTTPException

import redis
from flask import Blueprint, Response, jsonify, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messaging.addresses import AddressError, mask, parse_address
from bot.messaging.models import Contact, InboundMessage, OutboundMessage, of_number
from bot.messaging.signed_webhook import (
    CARRIER_ANSWERS,
    carrier_answers,
    inbound_form,
    signed_post,
    signed_url_for,
)
from bot.moderation.accounts import add_phone_moderator, is_moderator, moderator_numbers
from bot.ops.services import Services
from bot.ops.services import current as current_services
from bot.web.security import CONTENT_SECURITY_POLICY
from bot.web.webhook import MAX_BODY, MAX_BUTTON_PAYLOAD
from ledger.db import transaction

log = logging.getLogger(__name__)
bp = Blueprint("devphone", __name__, url_prefix="/dev")

THREAD_LIMIT = 100  # messages per phone, newest kept
MAX_PHONES = 12  # numbers per threads request
REFUSED_KEEP = 20  # refused webhooks remembered per number
REFUSED_TTL_S = 3600
CHANNELS = ("sms", "whatsapp")
# The page's own policy: the site's, with scripts allowed from this origin's static files
# only (no inline script, no eval); every other page keeps script-src 'none'.
PAGE_POLICY = "; ".join(
    [d for d in CONTENT_SECURITY_POLICY.split("; ") if not d.startswith("script-src")]
    + ["script-src 'self'"]
)


def enabled(settings) -> bool:
    """Dev mode (nothing is really sent), or asked for by DEV_PHONE=1."""
    return settings.dev_phone or not settings.twilio_configured


def blueprints(settings) -> tuple[Blueprint, ...]:
    """What app.py registers: the dev phone when enabled, else nothing (so /dev/ is a 404)."""
    return (bp,) if enabled(settings) else ()


class BadInput(ValueError):
    """A 400 with a sentence for the page to show."""


@bp.errorhandler(BadInput)
def _bad_input(error: BadInput):
    return jsonify(error=str(error)), 400


def _number(raw: str | None) -> str:
    try:
        return parse_address(raw or "")[1]
    except AddressError as exc:
        shown = (raw or "")[:40] or "nothing"
        raise BadInput(f"{shown}: {exc} (like +15551234567)") from None


@bp.get("/phone")
def page():
    """The page; its session is permanent so that the polls keep re-signing the cookie (an
    idle, non-permanent one would lapse after 30 minutes and take the CSRF token with it)."""
    session.permanent = True
    services = current_services()
    with services.read_sessions() as db:
        known = set(db.scalars(select(Contact.number).distinct().limit(50)))
        known |= set(moderator_numbers(db, services.settings))
    response = Response(
        render_template(
            "devphone.html",
            known=sorted(known),
            live=services.settings.twilio_configured,
        )
    )
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/phone/threads")
def threads():
    raw = request.args.getlist("number")
    if not raw or len(raw) > MAX_PHONES:
        raise BadInput(f"ask for 1 to {MAX_PHONES} numbers")
    numbers = list(dict.fromkeys(_number(item) for item in raw))
    services = current_services()
    with services.read_sessions() as db:
        phones = [_phone(db, services, number) for number in numbers]
    # A fresh token each poll: the page's never outlives WTF_CSRF_TIME_LIMIT however long open.
    response = jsonify(phones=phones, csrf=generate_csrf())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/phone/send")
def send():
    """Queue one text for the webhook (module docstring); 202 with its MessageSid."""
    form = request.form
    number = _number(form.get("number"))
    channel = form.get("channel", "sms")
    body = form.get("body", "")
    button = form.get("button_payload") or None
    if channel not in CHANNELS:
        raise BadInput("channel must be sms or whatsapp")
    if not body.strip():
        raise BadInput("type a message first")
    if len(body) > MAX_BODY:
        raise BadInput(f"a text may hold {MAX_BODY} characters")
    if button is not None and (channel != "whatsapp" or len(button) > MAX_BUTTON_PAYLOAD):
        raise BadInput(f"buttons are WhatsApp's, with ids of up to {MAX_BUTTON_PAYLOAD} characters")
    services = current_services()
    settings = services.settings
    params = inbound_form(settings, channel, number, body, button_payload=button)
    base = settings.public_url or request.host_url
    post_url = base.rstrip("/") + url_for("twilio.inbound")
    signed_for = signed_url_for(post_url, settings.public_url)
    threading.Thread(
        target=_post,
        args=(services, post_url, params, signed_for),
        name="devphone-post",
        daemon=True,
    ).start()
    return jsonify(message_sid=params["MessageSid"], number=number, channel=channel), 202


@bp.post("/phone/moderator")
def moderator():
    """Let the number moderate, exactly as ``ledgerbot moderators add NUMBER`` does."""
    number = _number(request.form.get("number"))
    services = current_services()
    with transaction(services.sessions) as db:
        add_phone_moderator(db, number)
    log.info("dev phone: %s may now moderate", mask(number))
    return jsonify(number=number, moderator=True)


def _post(services: Services, url: str, params: dict[str, str], signed_for: str) -> None:
    """The webhook call itself, in its own thread; a refusal is remembered for the page."""
    number = parse_address(params["From"])[1]
    try:
        status = signed_post(url, params, services.webhook_auth_token, signed_for)
    except (OSError, HTTPException) as exc:  # refused, timed out, cut off mid-answer
        why = f"nothing answered at {url}: {getattr(exc, 'reason', exc)}"
    else:
        if status == 200:
            return
        why = f"the webhook answered HTTP {status}"
    log.warning("dev phone: a text from %s was refused: %s", mask(number), why)
    refused = {
        "sid": params["MessageSid"],
        "channel": parse_address(params["From"])[0],
        "body": params["Body"],
        "error": why,
        "at": datetime.now(UTC).isoformat(),
    }
    key = services.settings.redis_key("devphone", "refused", number)
    try:
        with services.redis.pipeline() as pipe:
            pipe.lpush(key, json.dumps(refused))
            pipe.ltrim(key, 0, REFUSED_KEEP - 1)
            pipe.expire(key, REFUSED_TTL_S)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("dev phone: could not keep the refusal (%s)", exc)


def _phone(db: Session, services: Services, number: str) -> dict:
    """One phone's state and conversation, oldest first (the newest THREAD_LIMIT)."""
    settings = services.settings
    inbound = db.scalars(
        select(InboundMessage)
        .where(InboundMessage.from_number == number)
        .order_by(InboundMessage.id.desc())
        .limit(THREAD_LIMIT)
    ).all()
    outbound = db.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.to_number == number)
        .order_by(OutboundMessage.id.desc())
        .limit(THREAD_LIMIT)
    ).all()
    messages = [_inbound_json(m) for m in inbound] + [_outbound_json(m) for m in outbound]
    messages += _refused(services, number)
    messages.sort(key=lambda m: (m["at"], m["direction"] == "out", m["id"]))
    opted_out = db.scalar(
        select(Contact.id).where(of_number(number), Contact.opted_out.is_(True)).limit(1)
    )
    return {
        "number": number,
        "moderator": is_moderator(db, settings, number),
        "opted_out": opted_out is not None,
        "messages": messages[-THREAD_LIMIT:],
    }


def _at(moment: datetime) -> str:
    """ISO-8601 UTC (SQLite hands back naive datetimes; everything stored is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _inbound_json(message: InboundMessage) -> dict:
    silent = carrier_answers(message.channel, message.body)
    return {
        "id": f"in-{message.id:010d}",
        "sid": message.message_sid,
        "direction": "in",
        "channel": message.channel,
        "kind": message.command or "text",
        "body": message.body,
        "button": message.button_payload,  # a tapped button's id; the body is its title
        "status": message.status,
        "error": None,
        "note": f"No reply: {CARRIER_ANSWERS}." if silent else None,
        "at": _at(message.received_at),
    }


def _outbound_json(message: OutboundMessage) -> dict:
    error = None
    if message.error_code or message.error_message:
        error = " ".join(str(p) for p in (message.error_code, message.error_message) if p)
    return {
        "id": f"out-{message.id:010d}",
        "sid": message.twilio_sid,
        "direction": "out",
        "channel": message.channel,
        "kind": message.kind,
        "body": message.body,
        "buttons": [{"id": b["id"], "title": b["title"]} for b in message.buttons or []],
        "status": message.status,
        "error": error,
        "note": None,
        "at": _at(message.created_at),
    }


def _refused(services: Services, number: str) -> list[dict]:
    key = services.settings.redis_key("devphone", "refused", number)
    try:
        items = [json.loads(raw) for raw in services.redis.lrange(key, 0, REFUSED_KEEP - 1)]
    except (redis.RedisError, ValueError):
        return []
    return [
        {
            "id": f"refused-{item['sid']}",
            "sid": item["sid"],
            "direction": "in",
            "channel": item["channel"],
            "kind": "text",
            "body": item["body"],
            "status": "refused",
            "error": item["error"],
            "note": None,
            "at": item["at"],
        }
        for item in items
    ]
