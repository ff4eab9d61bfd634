"""What Twilio sends when a text comes in: the webhook form, signed and POSTed over HTTP.

``ledgerbot text`` and the dev phone (``/dev/phone``) both talk to the bot through this one
path, so what they exercise is the webhook Twilio calls — signature check, form rules,
storing and queueing — never a shortcut into the handlers that could drift from it.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import uuid

from bot.messaging.addresses import format_address, parse_address
from bot.parsing import Start, Stop, parse

INBOUND_PATH = "/twilio/messages"
TEST_BOT_NUMBER = "+15005550006"  # Twilio's test number: the bot's number when none is set
DEV_ACCOUNT_SID = "AC" + "0" * 32  # dev mode checks no account; the form still needs one
CARRIER_ANSWERS = (
    "over SMS the carrier answers STOP and START itself (Twilio's opt-out handling), so "
    "ledgerbot only records the choice and sends nothing"
)


def bot_number(settings, channel: str) -> str:
    """The number a person writes to on ``channel``: its configured sender, else the other
    channel's, else Twilio's test number (dev mode has none configured)."""
    senders = (settings.twilio_sms_from, settings.twilio_whatsapp_from)
    if channel == "whatsapp":
        senders = senders[::-1]
    configured = next((sender for sender in senders if sender), TEST_BOT_NUMBER)
    return parse_address(configured)[1]


def inbound_form(
    settings,
    channel: str,
    number: str,
    body: str,
    to: str | None = None,
    *,
    button_payload: str | None = None,
) -> dict[str, str]:
    """The form Twilio POSTs for one text from ``number`` (E.164) on ``channel``.

    A fresh MessageSid of Twilio's exact shape (``SM`` + 32 hex digits) each time: the
    webhook refuses anything else, and a repeated one would be taken as a redelivery. A
    tapped quick-reply button (WhatsApp) is sent as Twilio sends one: its id as
    ``ButtonPayload``, its title as ``ButtonText`` and as the ``Body``.
    """
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid or DEV_ACCOUNT_SID,
        "From": format_address(channel, number),
        "To": format_address(channel, to or bot_number(settings, channel)),
        "Body": body,
        "NumMedia": "0",
    }
    if button_payload is not None:
        form.update(ButtonPayload=button_payload, ButtonText=body)
    return form


def signed_url_for(post_url: str, public_url: str | None) -> str:
    """The URL Twilio signs: PUBLIC_URL's (the bot checks signatures against it, and a proxy
    may stand between) with the posted path, else the posted URL itself."""
    if not public_url:
        return post_url
    return public_url.rstrip("/") + urllib.parse.urlsplit(post_url).path


def signed_post(
    url: str,
    params: dict[str, str],
    auth_token: str,
    signed_url: str | None = None,
    timeout: float = 10.0,
) -> int:
    """POST ``params`` to ``url`` signed as Twilio signs; the HTTP status.

    ``signed_url`` is the URL Twilio would have signed when it differs from the one posted to
    (the bot checks signatures against PUBLIC_URL, which a proxy may stand in front of).
    Raises OSError (``urllib.error.URLError``) when nothing answers at ``url``.
    """
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(auth_token).compute_signature(signed_url or url, params)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def carrier_answers(channel: str, body: str) -> bool:
    """Whether this text gets no reply by design: STOP or START over SMS (see CARRIER_ANSWERS;
    on WhatsApp the bot confirms them itself)."""
    return channel == "sms" and isinstance(parse(body), Stop | Start)
