"""``python -m bot.cli``: the same as the ``ledgerbot`` command."""

from bot.cli import cli

cli()
