"""What every command shares: the process's services, built from the environment once."""

from __future__ import annotations

import click

from bot.config import ConfigError, Settings
from bot.ops.services import Services, install


def load_settings() -> Settings:
    """The environment's settings; a bad value is one line naming the variable, not a traceback."""
    try:
        return Settings.load()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def services_of(ctx: click.Context) -> Services:
    """The services of the root command context (built on first use)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = install(Services(load_settings()))
    return root.obj
