"""``ledgerbot text``: talk to a running bot exactly as Twilio would.

The form and its signature come from :mod:`bot.messaging.signed_webhook`, shared with the
dev phone, so both exercise the very webhook Twilio calls. With no ``--url`` it talks to the
``ledgerbot up`` of the same instance folder (``instance/up.json``, whatever its port).
"""

from __future__ import annotations

import time

import click
from sqlalchemy import func, select

from bot.cli import instance_info
from bot.cli.common import services_of
from bot.messaging.signed_webhook import (
    CARRIER_ANSWERS,
    INBOUND_PATH,
    carrier_answers,
    inbound_form,
    signed_post,
    signed_url_for,
)

__all__ = ["signed_post", "text"]  # signed_post: tests and tools have imported it from here

DEFAULT_URL = "http://127.0.0.1:5000"
QUIET_S = 0.5  # no new reply this long after the last one (or after a silent command): done


@click.command()
@click.option("--from", "from_", required=True, help="The sender, e.g. +15551234567.")
@click.option("--to", default=None, help="The bot's number (default: the channel's sender).")
@click.option("--whatsapp", is_flag=True, help="Send as a WhatsApp message.")
@click.option(
    "--url",
    default=None,
    help="Base URL of the bot (default: the `ledgerbot up` of this instance folder, else "
    f"PUBLIC_URL, else {DEFAULT_URL}).",
)
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for replies.")
@click.argument("message")
@click.pass_context
def text(ctx, from_, to, whatsapp, url, wait, message) -> None:
    """Send MESSAGE to the running bot as Twilio would, then print the replies."""
    from bot.messaging.addresses import AddressError, parse_address
    from bot.messaging.models import OutboundMessage

    services = services_of(ctx)
    settings = services.settings
    channel = "whatsapp" if whatsapp else "sms"
    try:
        _, number = parse_address(from_)
        bot_to = parse_address(to)[1] if to else None
    except AddressError as exc:
        raise click.ClickException(str(exc)) from None
    base, public = _target(settings, url)
    with services.read_sessions() as session:
        last_seen = session.scalar(select(func.max(OutboundMessage.id))) or 0
    params = inbound_form(settings, channel, number, message, bot_to)
    post_url = base + INBOUND_PATH
    try:
        status = signed_post(
            post_url, params, services.webhook_auth_token, signed_url_for(post_url, public)
        )
    except OSError as exc:
        why = getattr(exc, "reason", exc)
        raise click.ClickException(
            f"nothing answered at {base} ({why}); is `ledgerbot up` running?"
        ) from None
    if status != 200:
        raise click.ClickException(f"the bot answered HTTP {status}")
    silent = carrier_answers(channel, message)
    replies = _replies(services, number, last_seen, wait, params["MessageSid"] if silent else None)
    if not replies:
        click.echo(f"(no reply: {CARRIER_ANSWERS})" if silent else "(no reply)")
    for reply in replies:
        click.echo(f"[{reply.status}] {reply.body}")


def _target(settings, url: str | None) -> tuple[str, str | None]:
    """Where to post, and the public URL the bot checks signatures against.

    An explicit ``--url`` is posted to and signed for PUBLIC_URL as before. Otherwise the
    running ``up`` of this instance folder is preferred to PUBLIC_URL: ``up --port 5077``
    serves where nothing else says, and it recorded the PUBLIC_URL its children check.
    """
    if url:
        return url.rstrip("/"), settings.public_url
    running = instance_info.read(settings.instance_path)
    if running is not None:
        return running.url.rstrip("/"), running.public_url
    return (settings.public_url or DEFAULT_URL).rstrip("/"), settings.public_url


def _replies(services, number: str, after_id: int, wait: float, silent_sid: str | None):
    """The outbox rows to ``number`` after ``after_id`` once they have been handed on (not
    pending or sending), waiting up to ``wait`` seconds and QUIET_S past the last one.

    ``silent_sid``: the message is answered by nobody (STOP over SMS), so waiting ends
    QUIET_S after the worker has handled it instead of at the deadline.
    """
    from bot.messaging.models import InboundMessage, OutboundMessage

    deadline, replies, quiet_since = time.monotonic() + wait, [], None
    while time.monotonic() < deadline:
        with services.read_sessions() as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.id > after_id, OutboundMessage.to_number == number)
                .where(OutboundMessage.status.not_in(["pending", "sending"]))
                .order_by(OutboundMessage.id)
            ).all()
            handled = silent_sid is not None and session.scalar(
                select(InboundMessage.status).where(InboundMessage.message_sid == silent_sid)
            ) not in (None, "received")
        now = time.monotonic()
        if len(rows) > len(replies):
            replies, quiet_since = rows, now
        elif quiet_since is None and handled:
            quiet_since = now
        elif quiet_since is not None and now - quiet_since > QUIET_S:
            break
        time.sleep(0.1)
    return replies
