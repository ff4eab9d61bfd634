"""``ledgerbot text``: talk to a running bot exactly as Twilio would."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import click
from sqlalchemy import func, select

from bot.cli.common import services_of


def signed_post(
    url: str, params: dict[str, str], auth_token: str, signed_url: str | None = None
) -> int:
    """POST ``params`` to ``url`` signed as Twilio signs; the HTTP status.

    ``signed_url`` is the URL Twilio would have signed when it differs from the one posted to
    (the bot checks signatures against PUBLIC_URL, which a proxy may stand in front of).
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
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@click.command()
@click.option("--from", "from_", required=True, help="The sender, e.g. +15551234567.")
@click.option("--to", default=None, help="The bot's number (default TWILIO_SMS_FROM).")
@click.option("--whatsapp", is_flag=True, help="Send as a WhatsApp message.")
@click.option("--url", default=None, help="Base URL of the bot (default PUBLIC_URL).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for replies.")
@click.argument("message")
@click.pass_context
def text(ctx, from_, to, whatsapp, url, wait, message) -> None:
    """Send MESSAGE to the running bot as Twilio would, then print the replies."""
    from bot.messaging.addresses import format_address, parse_address
    from bot.messaging.models import OutboundMessage

    services = services_of(ctx)
    settings = services.settings
    channel = "whatsapp" if whatsapp else "sms"
    _, number = parse_address(from_)
    bot_number = to or settings.twilio_whatsapp_from or settings.twilio_sms_from or "+15005550006"
    _, bot_number = parse_address(bot_number)
    base = (url or settings.public_url or "http://127.0.0.1:5000").rstrip("/")
    with services.read_sessions() as session:
        last_seen = session.scalar(select(func.max(OutboundMessage.id))) or 0
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": format_address(channel, number),
        "To": format_address(channel, bot_number),
        "Body": message,
        "NumMedia": "0",
    }
    path = "/twilio/messages"
    public = (settings.public_url or "").rstrip("/")
    status = signed_post(
        base + path, params, services.webhook_auth_token, (public + path) if public else None
    )
    if status != 200:
        raise click.ClickException(f"the bot answered HTTP {status}")
    deadline, replies, quiet_since = time.monotonic() + wait, [], None
    while time.monotonic() < deadline:
        with services.read_sessions() as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.id > last_seen, OutboundMessage.to_number == number)
                .where(OutboundMessage.status.not_in(["pending", "sending"]))
                .order_by(OutboundMessage.id)
            ).all()
        if len(rows) > len(replies):
            replies, quiet_since = rows, time.monotonic()
        elif replies and time.monotonic() - quiet_since > 0.5:
            break
        time.sleep(0.1)
    if not replies:
        click.echo("(no reply)")
    for reply in replies:
        click.echo(f"[{reply.status}] {reply.body}")
