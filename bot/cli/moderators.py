"""``ledgerbot moderators``: who may moderate."""

from __future__ import annotations

import click

from bot.cli.common import services_of
from bot.messaging.addresses import AddressError
from bot.moderation.accounts import (
    active_accounts,
    add_phone_moderator,
    add_web_moderator,
    remove_moderator,
)
from ledger.db import transaction


@click.group()
def moderators() -> None:
    """Who may moderate: phone numbers (besides MODERATOR_NUMBERS) and web accounts.

    A phone moderator texts `pending`, `show E12`, `approve E12 [tier]` or `reject E12
    reason` to the bot; a web moderator signs in at PUBLIC_URL/moderate. This is a local
    command for the operator, so it prints numbers in full (the logs only ever mask them).

    \b
    Examples:
      ledgerbot moderators add +15551234567
      ledgerbot moderators add --web alice
      ledgerbot moderators list
      ledgerbot moderators remove +15551234567
    """


@moderators.command("add")
@click.argument("who")
@click.option("--web", is_flag=True, help="WHO is a web login name; asks for a password.")
@click.option("--password", default=None, help="For scripts; prompted for when omitted.")
@click.pass_context
def moderators_add(ctx: click.Context, who: str, web: bool, password: str | None) -> None:
    """Let WHO moderate: a phone number (SMS or WhatsApp, E.164 like +15551234567), or with
    --web a login name for PUBLIC_URL/moderate (asks for a password of 12+ characters)."""
    services = services_of(ctx)
    with transaction(services.sessions) as session:
        if web:
            if password is None:
                password = click.prompt("password", hide_input=True, confirmation_prompt=True)
            if len(password) < 12:
                raise click.ClickException("use a password of at least 12 characters")
            add_web_moderator(session, who, password)
            click.echo(f"web moderator {who} added")
            return
        try:
            number = add_phone_moderator(session, who)
        except AddressError as exc:
            raise click.ClickException(f"{who}: {exc}") from exc
        click.echo(f"moderator {number} added: it may now text pending / approve / reject")


@moderators.command("remove")
@click.argument("who")
@click.pass_context
def moderators_remove(ctx: click.Context, who: str) -> None:
    """Stop WHO moderating (a number in any form, or a web login name), effective at once."""
    services = services_of(ctx)
    with transaction(services.sessions) as session:
        if remove_moderator(session, who) is None:
            raise click.ClickException(f"no moderator {who}")
    click.echo(f"{who} removed")


@moderators.command("list")
@click.pass_context
def moderators_list(ctx: click.Context) -> None:
    """Everyone who may moderate now."""
    services = services_of(ctx)
    for number in services.settings.moderator_numbers:
        click.echo(f"phone {number} (MODERATOR_NUMBERS)")
    with services.read_sessions() as session:
        for moderator in active_accounts(session):
            name = moderator.username if moderator.kind == "web" else moderator.number
            click.echo(f"{moderator.kind} {name}")
