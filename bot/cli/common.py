"""What every command shares: the process's services, built from the environment once."""

from __future__ import annotations

from pathlib import Path

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
    """The services of the root command context (built on first use).

    The instance folder is created here: the default SQLite database, the generated secrets
    and the embedded Redis live in it, and a newcomer's first command must not fail for lack
    of a folder."""
    root = ctx.find_root()
    if root.obj is None:
        settings = load_settings()
        Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
        root.obj = install(Services(settings))
    return root.obj


class OneLineErrors(click.Group):
    """Operational failures (a database or Redis that cannot be reached or opened) end a
    command with one line saying what to check, not a hundred-line traceback."""

    def invoke(self, ctx: click.Context):
        import redis
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
                raise click.ClickException(
                    f"the database has no ledgerbot tables yet ({reason}): run "
                    "`ledgerbot db upgrade` first"
                ) from None
            raise click.ClickException(
                f"cannot use the database ({reason}): check DATABASE_URL, that the server is "
                "up, and that the folder of an SQLite file exists and is writable"
            ) from None
        except redis.ConnectionError as exc:
            raise click.ClickException(
                f"cannot reach Redis ({exc}): check REDIS_URL, or unset it to use the embedded one"
            ) from None
