"""Phone numbers are read by libphonenumber behind a strict shape check."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.messaging.addresses import AddressError, e164, parse_address, parse_twilio_address
from bot.moderation.models import ModeratorAccount


@pytest.mark.parametrize(
    ("typed", "channel", "number"),
    [
        ("+15551234567", "sms", "+15551234567"),
        ("whatsapp:+447911123456", "whatsapp", "+447911123456"),
        ("WhatsApp: +49 30 901820", "whatsapp", "+4930901820"),
        ("+1 (555) 123-4567", "sms", "+15551234567"),
        ("+33.6.12.34.56.78", "sms", "+33612345678"),
        (" +918123456789 ", "sms", "+918123456789"),
    ],
)
def test_numbers_in_any_typed_form_become_e164(typed, channel, number):
    assert parse_address(typed) == (channel, number)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "5551234567",  # no country code
        "+0551234567",  # no country starts with 0
        "+999123456789",  # 999 is no country's calling code
        "+1555",  # too short for any plan
        "+4479111234567890",  # too long for the UK
        "+١٥٥٥١٢٣٤٥٦٧",  # Arabic-Indic digits: libphonenumber would read them, we never do
        "+１５５５１２３４５６７",  # full-width digits
        "+1-800-FLOWERS",  # letters
        "whatsapp:",
        "tel:+15551234567",
    ],
)
def test_what_is_not_a_number_is_refused(bad):
    with pytest.raises(AddressError):
        parse_address(bad)


def test_e164_is_idempotent():
    assert e164(e164("+1 555 123 4567")) == "+15551234567"


def test_a_moderator_added_in_one_form_is_removed_in_another(services):
    runner = CliRunner()
    added = runner.invoke(cli, ["moderators", "add", "whatsapp:+1 555 222 3333"], obj=services)
    assert added.exit_code == 0, added.output
    removed = runner.invoke(cli, ["moderators", "remove", "+15552223333"], obj=services)
    assert removed.exit_code == 0, removed.output
    with services.sessions() as session:
        [account] = session.query(ModeratorAccount).all()
    assert account.number == "+15552223333" and account.active is False
    again = runner.invoke(cli, ["moderators", "remove", "whatsapp:+15552223333"], obj=services)
    assert again.exit_code == 1 and "no moderator" in again.output


def test_the_webhook_never_turns_away_a_number_twilio_delivered():
    """A shape check only: a 4xx is not retried, so the message would be lost."""
    assert parse_twilio_address("+999123456789") == ("sms", "+999123456789")
    assert parse_twilio_address("whatsapp:+15551234567") == ("whatsapp", "+15551234567")
    for bad in ("+1 555 123 4567", "+١٥٥٥١٢٣٤٥٦٧", "5551234567", ""):
        with pytest.raises(AddressError):
            parse_twilio_address(bad)
