"""What every command shares: the process's services, built from the environment once."""

from __future__ import annotations

import click

from bot.config import Settings
from bot.ops.services import Services, install


def services_of(ctx: click.Context) -> Services:
    """The services of the root command context (built on first use)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = install(Services(Settings.load()))
    return root.obj
