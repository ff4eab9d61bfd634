"""STOP and START: the contact's consent to receive texts.

On SMS Twilio's own opt-out handling answers STOP and START, and would refuse our send
anyway (error 21610), so we record the state and stay silent. WhatsApp has no such layer,
so there we send the one confirmation people expect. Consent belongs to the number: a STOP
on either channel silences both (checked when sending), and START resumes both.
"""

from __future__ import annotations

from sqlalchemy import update

from bot.handlers.context import Context, Outcome
from bot.messaging.models import Contact, of_number
from bot.parsing import Start, Stop

STOPPED = "You will get no more texts from ledgerbot. Send START to resume."
STARTED = "Welcome back to ledgerbot. Send HELP for how to ask, or STOP to opt out."


def handle_stop(command: Stop, ctx: Context) -> Outcome:
    ctx.contact.opted_out = True
    ctx.contact.opted_out_at = ctx.now
    if ctx.contact.channel == "whatsapp":
        return Outcome(STOPPED, reply_kind="opt_out_confirmation")
    return Outcome(None)


def handle_start(command: Start, ctx: Context) -> Outcome:
    """Opting back in is for the number, on every channel (as STOP silences every channel)."""
    ctx.session.execute(
        update(Contact)
        .where(of_number(ctx.contact.number))
        .values(opted_out=False, opted_out_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return Outcome(STARTED if ctx.contact.channel == "whatsapp" else None)
