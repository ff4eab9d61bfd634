"""The ``ledgerbot`` command: one click group, one module per command or command group.

The table below is the one place a command is added.
"""

from __future__ import annotations

import click

from bot.cli import db, doctor, moderators, monitor, records, run, text, tlog, witness
from bot.cli.common import OneLineErrors


@click.group(cls=OneLineErrors)
def cli() -> None:
    """ledgerbot: a Twilio SMS/WhatsApp bot in front of a public evidence ledger."""


COMMANDS = (
    db.db,
    records.verify,
    records.import_article_command,
    records.export_article_command,
    run.up,
    run.worker,
    run.sweep,
    doctor.doctor,
    text.text,
    moderators.moderators,
    tlog.tlog,
    tlog.verify_receipt_command,
    witness.witness,
    monitor.monitor,
)
for command in COMMANDS:
    cli.add_command(command)
